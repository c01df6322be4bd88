-- Complete Journey: table parsed, one row per raw row with typed values, whether products.parquet
-- describes its product (in_catalogue), and _reason, the one reason it is dropped (null: it
-- becomes an order line). Ids are text; quantity must be a whole number in INTEGER range;
-- timestamps without a zone are taken as UTC.
create table parsed as
with typed as (
    select
        _file,
        _row,
        nullif(trim(cast(household_id as varchar)), '') as customer_id,
        nullif(trim(cast(basket_id as varchar)), '') as basket_id,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        try_cast(quantity as double) as quantity_value,
        try_cast(sales_value as double) as sales_value,
        try_cast(transaction_timestamp as timestamp) as happened_at
    from raw
),

checked as (
    select
        typed.*,
        case
            when isfinite(quantity_value) and quantity_value = floor(quantity_value)
                and abs(quantity_value) <= 2147483647
                then cast(quantity_value as integer)
        end as quantity,
        catalogue.product_id is not null as in_catalogue
    from typed
    left join catalogue on catalogue.product_id = typed.product_id
),

reasons as (
    select
        *,
        case
            when customer_id is null then 'no household_id'
            when basket_id is null then 'no basket_id'
            when product_id is null then 'no product_id'
            when happened_at is null then 'no transaction_timestamp'
            when quantity is null then 'unparseable quantity'
            when quantity = 0 then 'zero quantity'
            when quantity < 0 then 'negative quantity'
            when sales_value is null or not isfinite(sales_value)
                then 'unparseable sales_value'
            when sales_value < 0 then 'negative sales_value'
            when not in_catalogue then 'product missing from products.parquet'
        end as _first_reason
    from checked
),

final as (
    select
        * exclude (_first_reason),
        case
            when _first_reason is null
                and min(customer_id) over basket_rows <> max(customer_id) over basket_rows
                then 'basket with several households'
            else _first_reason
        end as _reason
    from reasons
    window basket_rows as (partition by basket_id, _first_reason is null)
)

select * from final;
