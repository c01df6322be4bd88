-- The erasure list (registered as erasure_list: sha256 hex of each erased customer_id) for
-- one extract. refused_orders collects the orders refused with their customer, so that their
-- lines are refused too (order_lines load after orders, in the same transaction).
create or replace temp table erased_customers as
select distinct customer_hash
from erasure_list;

create or replace temp table refused_orders (order_id varchar);
