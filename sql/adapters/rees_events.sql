-- REES46 events: every usable non-purchase row, its type mapped from $source_types to the
-- contract's $event_types (same positions). Sorted by customer and time.
with events as (
    select
        customer_id,
        product_id,
        map($source_types, $event_types)[source_type] as event_type,
        happened_at as occurred_at,
        session_id
    from parsed
    where _reason is null and source_type <> 'purchase'
)

select
    cast(customer_id as varchar) as customer_id,
    cast(product_id as varchar) as product_id,
    cast(event_type as varchar) as event_type,
    cast(occurred_at as timestamp) as occurred_at,
    cast(session_id as varchar) as session_id
from events
order by customer_id, occurred_at, product_id, event_type, session_id;
