-- Rename/cast browsing events; see stg_customers.sql for _type_error / _reason.
-- The same event twice in one file is a duplicate; across files it is simply already known.
create or replace temp table {{ stg }} as
with src as (
    select * from {{ raw }}
),

typed as (
    select
        _file,
        _row,
        nullif(trim(cast(customer_id as varchar)), '') as customer_id,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        lower(nullif(trim(cast(event_type as varchar)), '')) as event_type,
        utc_timestamp(occurred_at) as occurred_at,
        nullif(trim(cast(session_id as varchar)), '') as session_id,
        case
            when occurred_at is not null and utc_timestamp(occurred_at) is null
                then 'occurred_at'
        end as _type_error
    from src
),

ranked as (
    select
        *,
        row_number() over (
            partition by _file, customer_id, product_id, event_type, occurred_at, session_id
            order by _row
        ) as _seen
    from typed
),

final as (
    select
        * exclude (_seen),
        case
            when customer_id is null then 'missing_value:customer_id'
            when product_id is null then 'missing_value:product_id'
            when event_type is null then 'missing_value:event_type'
            when occurred_at is null then 'missing_value:occurred_at'
            when session_id is null then 'missing_value:session_id'
            when not list_contains($event_types, event_type) then 'unknown_value:event_type'
            when occurred_at >= cast($loaded_at as timestamp) then 'future_timestamp:occurred_at'
            when customer_id not in (select customer_id from customers)
                then 'unknown_reference:customer_id'
            when product_id not in (select product_id from products)
                then 'unknown_reference:product_id'
            when _seen > 1 then 'duplicate_row'
        end as _reason
    from ranked
)

select * from final;
