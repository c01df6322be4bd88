-- Lines of the orders refused in this load (refuse_orders.sql) leave the raw batch.
delete from {{ raw }}
where nullif(trim(cast(order_id as varchar)), '') in (select order_id from refused_orders);
