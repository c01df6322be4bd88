-- REES46 / Open CDP: table parsed, one row per raw row with typed values and _reason, the
-- one reason it is dropped (null: it becomes an event or an order line). $time_formats are
-- the accepted event_time formats, $known_types the event types that are mapped.
-- _truncated: the row is a file's unterminated last line (see rejected_lines).
create table parsed as
with typed as (
    select
        raw._file,
        raw._row,
        coalesce(raw._row = fi.truncated_row, false) as _truncated,
        nullif(trim(raw.user_id), '') as customer_id,
        nullif(trim(raw.product_id), '') as product_id,
        lower(nullif(trim(raw.event_type), '')) as source_type,
        try_strptime(trim(raw.event_time), $time_formats) as happened_at,
        nullif(trim(raw.user_session), '') as session_id,
        try_cast(trim(raw.price) as double) as price,
        nullif(trim(raw.category_code), '') as category_code,
        nullif(trim(raw.category_id), '') as category_id,
        nullif(trim(raw.brand), '') as brand
    from raw
    left join file_info as fi on fi.file = raw._file
),

checked as (
    select
        *,
        case
            when _truncated then 'truncated line'
            when customer_id is null then 'no customer id (user_id)'
            when product_id is null then 'no product id'
            when happened_at is null then 'unparseable event_time'
            when source_type is null or not list_contains($known_types, source_type)
                then 'unsupported event type: ' || coalesce(source_type, '(empty)')
            when session_id is null then 'no session id (user_session)'
            -- a positive price: finite and above zero (DuckDB orders NaN above everything)
            when source_type = 'purchase' and not coalesce(isfinite(price) and price > 0, false)
                then 'purchase without a positive price'
        end as _first_reason
    from typed
),

final as (
    select
        * exclude (_first_reason),
        case
            when _first_reason is null
                and row_number() over (
                    partition by
                        customer_id, product_id, source_type, happened_at, session_id,
                        _first_reason is null
                    order by _file, _row
                ) > 1
                then 'duplicate event'
            else _first_reason
        end as _reason
    from checked
)

select * from final;
