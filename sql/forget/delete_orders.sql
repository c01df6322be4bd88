delete from orders
where customer_id in (select customer_id from forget_ids);
