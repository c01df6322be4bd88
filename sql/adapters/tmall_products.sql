-- Tmall products: every brand of a dated row, titled "brand <id>", in category $category, at
-- the placeholder price $price (the data has none), with $stock, active.
with products as (
    select distinct
        product_id,
        'brand ' || product_id as title,
        $category as category,
        $price as price,
        $stock as stock,
        true as active,
        null as repurchase_interval_days
    from parsed
    where not _truncated and product_id is not null and day is not null
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
