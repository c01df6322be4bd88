-- Rename/cast products; see stg_customers.sql for _type_error / _reason.
-- price in the shop's currency; stock in units on hand; repurchase interval in days.
-- url / image_url: the product page and its picture (for emails); absolute http(s) links only,
-- so a file cannot put a javascript: or relative link into an email.
create or replace temp table {{ stg }} as
with src as (
    select * from {{ raw }}
),

typed as (
    select
        _file,
        _row,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        nullif(trim(cast(title as varchar)), '') as title,
        nullif(trim(cast(category as varchar)), '') as category,
        try_cast(price as double) as price,
        whole_number(stock) as stock,
        try_cast(active as boolean) as active,
        whole_number(repurchase_interval_days) as repurchase_interval_days,
        nullif(trim(cast(url as varchar)), '') as url,
        nullif(trim(cast(image_url as varchar)), '') as image_url,
        case
            when price is not null and try_cast(price as double) is null then 'price'
            when stock is not null and whole_number(stock) is null then 'stock'
            when active is not null and try_cast(active as boolean) is null then 'active'
            when repurchase_interval_days is not null
                and whole_number(repurchase_interval_days) is null
                then 'repurchase_interval_days'
        end as _type_error
    from src
),

ranked as (
    select
        *,
        row_number() over (partition by _file, product_id order by _row) as _seen
    from typed
),

final as (
    select
        * exclude (_seen),
        case
            when product_id is null then 'missing_value:product_id'
            when title is null then 'missing_value:title'
            when category is null then 'missing_value:category'
            when price is null then 'missing_value:price'
            when stock is null then 'missing_value:stock'
            when active is null then 'missing_value:active'
            when not isfinite(price) or price < 0 then 'invalid_value:price'
            when stock < 0 then 'invalid_value:stock'
            when repurchase_interval_days <= 0 then 'invalid_value:repurchase_interval_days'
            when not regexp_matches(url, '^https?://.', 'i') then 'invalid_value:url'
            when not regexp_matches(image_url, '^https?://.', 'i') then 'invalid_value:image_url'
            when _seen > 1 then 'duplicate_key'
        end as _reason
    from ranked
)

select * from final;
