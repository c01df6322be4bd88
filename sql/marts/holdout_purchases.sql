-- What customers bought in [$as_of, $until): the truth an offer list is judged against.
with final as (
    select distinct
        orders.customer_id,
        order_lines.product_id
    from orders
    inner join order_lines using (order_id)
    where orders.status = 'completed'
        and orders.ordered_at >= cast($as_of as timestamp)
        and orders.ordered_at < cast($until as timestamp)
)

select * from final;
