-- What an erasure removes (forget_request: the customer ids asked for, registered by the
-- caller). forget_orders: their stored orders; forget_quarantined_orders: those plus orders of
-- theirs that were quarantined, whose quarantined lines go too.
create or replace temp table forget_ids as
select distinct customer_id
from forget_request;

create or replace temp table forget_orders as
select distinct order_id
from orders
where customer_id in (select customer_id from forget_ids);

create or replace temp table forget_quarantined_orders as
select order_id from forget_orders
union
select nullif(trim(json_extract_string(record, '$.order_id')), '') as order_id
from quarantine
where
    entity = 'orders'
    and nullif(trim(json_extract_string(record, '$.customer_id')), '')
    in (select customer_id from forget_ids);
