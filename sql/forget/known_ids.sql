-- The requested ids that have any row in the database (the rest are reported as unknown).
select f.customer_id
from forget_ids as f
where
    exists (select 1 from customers as t where t.customer_id = f.customer_id)
    or exists (select 1 from orders as t where t.customer_id = f.customer_id)
    or exists (select 1 from events as t where t.customer_id = f.customer_id)
    or exists (select 1 from offers as t where t.customer_id = f.customer_id)
    or exists (select 1 from sent_offers as t where t.customer_id = f.customer_id)
    or exists (
        select 1
        from quarantine as q
        where nullif(trim(json_extract_string(q.record, '$.customer_id')), '') = f.customer_id
    )
order by f.customer_id;
