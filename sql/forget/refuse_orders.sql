-- Orders of erased customers: remembered in refused_orders (their lines are refused next),
-- then dropped from the raw batch like refuse_customer_rows.sql.
create or replace temp table refused_ids as
with ids as (
    select distinct nullif(trim(cast(customer_id as varchar)), '') as customer_id
    from {{ raw }}
)

select customer_id
from ids
where sha256(customer_id) in (select customer_hash from erased_customers);

insert into refused_orders
select distinct nullif(trim(cast(order_id as varchar)), '') as order_id
from {{ raw }}
where nullif(trim(cast(customer_id as varchar)), '') in (select customer_id from refused_ids);

delete from {{ raw }}
where nullif(trim(cast(customer_id as varchar)), '') in (select customer_id from refused_ids);
