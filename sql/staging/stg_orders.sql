-- Rename/cast orders; see stg_customers.sql for _type_error / _reason.
-- status: completed (a sale), cancelled (never fulfilled), return (goods sent back).
create or replace temp table {{ stg }} as
with src as (
    select * from {{ raw }}
),

typed as (
    select
        _file,
        _row,
        nullif(trim(cast(order_id as varchar)), '') as order_id,
        nullif(trim(cast(customer_id as varchar)), '') as customer_id,
        utc_timestamp(ordered_at) as ordered_at,
        lower(nullif(trim(cast(status as varchar)), '')) as status,
        case
            when ordered_at is not null and utc_timestamp(ordered_at) is null
                then 'ordered_at'
        end as _type_error
    from src
),

ranked as (
    select
        *,
        row_number() over (partition by _file, order_id order by _row) as _seen
    from typed
),

final as (
    select
        * exclude (_seen),
        case
            when order_id is null then 'missing_value:order_id'
            when customer_id is null then 'missing_value:customer_id'
            when ordered_at is null then 'missing_value:ordered_at'
            when status is null then 'missing_value:status'
            when not list_contains($statuses, status) then 'unknown_value:status'
            when ordered_at >= cast($loaded_at as timestamp) then 'future_timestamp:ordered_at'
            when customer_id not in (select customer_id from customers)
                then 'unknown_reference:customer_id'
            when _seen > 1 then 'duplicate_key'
        end as _reason
    from ranked
)

select * from final;
