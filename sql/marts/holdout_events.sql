-- Products each customer browsed with $event_type ('view' or 'add_to_cart') in
-- [$as_of, $until): a softer truth than purchases for judging offer lists.
with final as (
    select distinct
        customer_id,
        product_id
    from events
    where event_type = $event_type
        and occurred_at >= cast($as_of as timestamp)
        and occurred_at < cast($until as timestamp)
)

select * from final;
