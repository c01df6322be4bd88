-- Tmall events: every usable click / add-to-cart row (one per user, brand, type and day), its
-- code mapped from $source_codes to the contract's $event_types (same positions), at 00:00 UTC
-- of its day, session "<user_id>-<YYYY-MM-DD>". Sorted by customer and time.
with events as (
    select
        customer_id,
        product_id,
        map($source_codes, $event_types)[type_code] as event_type,
        cast(day as timestamp) as occurred_at,
        customer_id || '-' || strftime(day, '%Y-%m-%d') as session_id
    from parsed
    where _reason is null and type_code <> $buy_code
)

select
    cast(customer_id as varchar) as customer_id,
    cast(product_id as varchar) as product_id,
    cast(event_type as varchar) as event_type,
    cast(occurred_at as timestamp) as occurred_at,
    cast(session_id as varchar) as session_id
from events
order by customer_id, occurred_at, product_id, event_type, session_id;
