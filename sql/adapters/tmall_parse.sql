-- Tmall: table parsed, one row per raw row with typed values and _reason, the one reason it is
-- dropped (null: it becomes an event or a unit on an order line). visit_datetime has month and
-- day only: $year is put in front and it is read with $date_formats. type holds the
-- competition's codes: $known_codes are mapped, $collect_code (collect / favourite) has no
-- contract event type. A day has no time, so a second view (or add-to-cart) of a brand by a
-- user on one day is the same event again: dropped. Repeated buys are units (not dropped).
-- _truncated: the row is a file's unterminated last line (see rejected_lines).
create table parsed as
with typed as (
    select
        raw._file,
        raw._row,
        coalesce(raw._row = fi.truncated_row, false) as _truncated,
        nullif(trim(raw.user_id), '') as customer_id,
        nullif(trim(raw.brand_id), '') as product_id,
        nullif(trim(raw.type), '') as type_code,
        cast(
            try_strptime(cast($year as varchar) || '-' || trim(raw.visit_datetime), $date_formats)
            as date
        ) as day
    from raw
    left join file_info as fi on fi.file = raw._file
),

checked as (
    select
        *,
        case
            when _truncated then 'truncated line'
            when customer_id is null then 'no customer id (user_id)'
            when product_id is null then 'no brand id (brand_id)'
            when day is null then 'unparseable visit_datetime'
            when type_code = $collect_code then 'collect (favourite): no contract event type'
            when type_code is null or not list_contains($known_codes, type_code)
                then 'unsupported type: ' || coalesce(type_code, '(empty)')
        end as _first_reason
    from typed
),

final as (
    select
        * exclude (_first_reason),
        case
            when _first_reason is null
                and type_code <> $buy_code
                and row_number() over (
                    partition by customer_id, product_id, type_code, day, _first_reason is null
                    order by _file, _row
                ) > 1
                then 'same view or add-to-cart again that day'
            else _first_reason
        end as _reason
    from checked
)

select * from final;
