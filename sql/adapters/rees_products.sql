-- REES46 products: the latest brand, category and positive price seen ("latest": last in time,
-- then in file and row order); title from brand and category leaf. Products never seen with a
-- positive price are written inactive at price 0. Every product gets $stock.
with latest as (
    select
        product_id,
        arg_max(brand, (happened_at, _file, _row)) filter (where brand is not null) as brand,
        arg_max(category_code, (happened_at, _file, _row)) filter (
            where category_code is not null
        ) as category_code,
        arg_max(category_id, (happened_at, _file, _row)) filter (
            where category_id is not null
        ) as category_id,
        arg_max(price, (happened_at, _file, _row)) filter (
            where coalesce(isfinite(price) and price > 0, false)
        ) as price
    from parsed
    where not _truncated and product_id is not null and happened_at is not null
    group by product_id
),

products as (
    select
        product_id,
        coalesce(
            nullif(
                concat_ws(' ', brand, replace(string_split(category_code, '.')[-1], '_', ' ')),
                ''
            ),
            'product ' || product_id
        ) as title,
        coalesce(category_code, category_id, 'unknown') as category,
        coalesce(price, 0.0) as price,
        $stock as stock,
        price is not null as active,
        null as repurchase_interval_days
    from latest
)

select
    cast(product_id as varchar) as product_id,
    cast(title as varchar) as title,
    cast(category as varchar) as category,
    cast(price as double) as price,
    cast(stock as integer) as stock,
    cast(active as boolean) as active,
    cast(repurchase_interval_days as integer) as repurchase_interval_days,
    cast(null as varchar) as url,  -- the data has no product links
    cast(null as varchar) as image_url
from products
order by product_id;
