-- Baskets for "goes with": (order_id, product_id) of completed orders in the lookback window
-- before $as_of.
select distinct
    orders.order_id,
    order_lines.product_id
from orders
inner join order_lines using (order_id)
where
    orders.status = 'completed'
    and orders.ordered_at < cast($as_of as timestamp)
    and orders.ordered_at >= cast($as_of as timestamp) - to_days(cast($lookback_days as integer));
