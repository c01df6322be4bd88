-- The time range of history a run as of $as_of actually used.
select
    min(least(first_event, first_order)) as first_at,
    max(greatest(last_event, last_order)) as last_at,
    max(events_used) as events_used,
    max(orders_used) as orders_used
from (
    select
        min(occurred_at) as first_event,
        max(occurred_at) as last_event,
        count(*) as events_used,
        null::timestamp as first_order,
        null::timestamp as last_order,
        null::bigint as orders_used
    from events
    where occurred_at < cast($as_of as timestamp)
        and occurred_at >= cast($as_of as timestamp) - to_days(cast($lookback_days as integer))
    union all
    select
        null,
        null,
        null,
        min(ordered_at),
        max(ordered_at),
        count(*)
    from orders
    where ordered_at < cast($as_of as timestamp)
        and ordered_at >= cast($as_of as timestamp) - to_days(cast($lookback_days as integer))
);
