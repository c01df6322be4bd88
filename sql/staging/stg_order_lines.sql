-- Rename/cast order lines; see stg_customers.sql for _type_error / _reason.
-- quantity is always positive: the order's status says whether goods went out or came back.
create or replace temp table {{ stg }} as
with src as (
    select * from {{ raw }}
),

typed as (
    select
        _file,
        _row,
        nullif(trim(cast(order_id as varchar)), '') as order_id,
        whole_number(line_no) as line_no,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        whole_number(quantity) as quantity,
        try_cast(unit_price as double) as unit_price,
        case
            when line_no is not null and whole_number(line_no) is null then 'line_no'
            when quantity is not null and whole_number(quantity) is null then 'quantity'
            when unit_price is not null and try_cast(unit_price as double) is null
                then 'unit_price'
        end as _type_error
    from src
),

ranked as (
    select
        *,
        row_number() over (partition by _file, order_id, line_no order by _row) as _seen
    from typed
),

final as (
    select
        * exclude (_seen),
        case
            when order_id is null then 'missing_value:order_id'
            when line_no is null then 'missing_value:line_no'
            when product_id is null then 'missing_value:product_id'
            when quantity is null then 'missing_value:quantity'
            when unit_price is null then 'missing_value:unit_price'
            when quantity <= 0 then 'invalid_value:quantity'
            when not isfinite(unit_price) or unit_price < 0 then 'invalid_value:unit_price'
            when order_id not in (select order_id from orders) then 'unknown_reference:order_id'
            when product_id not in (select product_id from products)
                then 'unknown_reference:product_id'
            when _seen > 1 then 'duplicate_key'
        end as _reason
    from ranked
)

select * from final;
