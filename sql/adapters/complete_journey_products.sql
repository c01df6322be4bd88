-- Complete Journey products: every product of products.parquet that occurs in a dated
-- transaction row. Category: product_category, else department, else $unknown_category. Title:
-- product_type (else category, else department) and package_size, else "product <id>".
-- Price: the latest positive unit price (sales_value / quantity; "latest": last in time, then
-- in file order); none -> 0 and inactive. Every product gets $stock.
with prices as (
    select
        product_id,
        arg_max(sales_value / quantity, (happened_at, _file, _row)) filter (
            where quantity > 0 and coalesce(isfinite(sales_value) and sales_value > 0, false)
        ) as price
    from parsed
    where in_catalogue and happened_at is not null
    group by product_id
),

products as (
    select
        prices.product_id,
        coalesce(
            nullif(
                concat_ws(
                    ' ',
                    coalesce(
                        catalogue.product_type, catalogue.product_category, catalogue.department
                    ),
                    catalogue.package_size
                ),
                ''
            ),
            'product ' || prices.product_id
        ) as title,
        coalesce(
            catalogue.product_category, catalogue.department, $unknown_category
        ) as category,
        coalesce(prices.price, 0.0) as price,
        $stock as stock,
        prices.price is not null as active,
        null as repurchase_interval_days
    from prices
    inner join catalogue using (product_id)
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
