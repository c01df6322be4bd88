-- The bare-library baseline of `offers bench`: what a team would write by hand on the same
-- Parquet files. Views 1, add-to-carts 4, completed purchases 10, summed per customer and
-- product before $as_of (no decay, no returns, no validation).
with events as (
    select
        customer_id,
        product_id,
        case event_type when 'add_to_cart' then 4.0 else 1.0 end as weight
    from read_parquet($source || '/events/*.parquet')
    where occurred_at < cast($as_of as timestamp)
),

purchases as (
    select
        o.customer_id,
        l.product_id,
        10.0 as weight
    from read_parquet($source || '/orders/*.parquet') as o
    inner join read_parquet($source || '/order_lines/*.parquet') as l using (order_id)
    where o.status = 'completed' and o.ordered_at < cast($as_of as timestamp)
),

final as (
    select
        customer_id,
        product_id,
        sum(weight) as weight
    from (select * from events union all select * from purchases)
    group by customer_id, product_id
)

select * from final;
