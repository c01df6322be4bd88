-- Rows of erased customers leave the raw batch before staging: they are neither stored nor
-- quarantined (either would keep the personal data), only counted. Ids are compared as
-- staging reads them (trimmed text); only the batch's distinct ids are hashed.
create or replace temp table refused_ids as
with ids as (
    select distinct nullif(trim(cast(customer_id as varchar)), '') as customer_id
    from {{ raw }}
)

select customer_id
from ids
where sha256(customer_id) in (select customer_hash from erased_customers);

delete from {{ raw }}
where nullif(trim(cast(customer_id as varchar)), '') in (select customer_id from refused_ids);
