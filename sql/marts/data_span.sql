-- When the stored orders and events (any status) start and end, and the newest one before
-- $as_of: what a run that finds nothing to learn from says about the data it has.
with stamps as (
    select occurred_at as stamp from events
    union all
    select ordered_at as stamp from orders
)

select
    min(stamp) as first_at,
    max(stamp) filter (where stamp < cast($as_of as timestamp)) as last_before,
    max(stamp) as last_at
from stamps;
