-- Online Retail products: one per goods stock code (an invoice's repeats from another file do
-- not count). Title: the description most often seen with a positive price (then most often,
-- then alphabetically); price: the latest positive one ("latest": last in time, then in file
-- and row order). Stock codes never seen with a positive price are written inactive at
-- price 0. All in category $category, with $stock.
with source as (
    select *
    from parsed
    where
        not _truncated
        and not is_repeated_invoice
        and stock_code is not null
        and not is_non_product
),

descriptions as (
    select
        stock_code,
        description,
        count(*) filter (where coalesce(isfinite(price) and price > 0, false)) as priced,
        count(*) as n
    from source
    where description is not null
    group by stock_code, description
),

titles as (
    select stock_code, description as title
    from descriptions
    qualify row_number() over (
        partition by stock_code order by priced desc, n desc, description
    ) = 1
),

prices as (
    select
        stock_code,
        arg_max(price, (happened_at, _file, _row)) filter (
            where coalesce(isfinite(price) and price > 0, false) and happened_at is not null
        ) as price
    from source
    group by stock_code
),

products as (
    select
        prices.stock_code as product_id,
        coalesce(titles.title, 'stock code ' || prices.stock_code) as title,
        $category as category,
        coalesce(prices.price, 0.0) as price,
        $stock as stock,
        prices.price is not null as active,
        null as repurchase_interval_days
    from prices
    left join titles using (stock_code)
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
