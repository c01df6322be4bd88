-- Append clean events that are not stored yet, so loading the same files twice writes nothing.
-- An event is all of its columns: EXCEPT (a set difference) also drops the batch's own repeats
-- (the same event in two files).
create or replace temp table changed_rows as
with clean as (
    select
        customer_id,
        product_id,
        event_type,
        occurred_at,
        session_id
    from {{ stg }}
    where _reason is null
),

stored as (
    select
        customer_id,
        product_id,
        event_type,
        occurred_at,
        session_id
    from events
    -- only the time range of this batch can hold the same events
    where occurred_at >= (select min(occurred_at) from clean)
),

final as (
    select * from clean
    except
    select * from stored
)

select * from final;

create or replace temp table merge_stats as
select
    count(*) as changed,
    -- events are facts: a new row is never an update of a stored one
    0 as updated
from changed_rows as c;

insert into events
select
    *,
    $run_id
from changed_rows;

select * from merge_stats;
