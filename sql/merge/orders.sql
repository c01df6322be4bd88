-- Upsert clean orders rows: a later file's row wins; rows identical to what is stored are
-- left alone, so loading the same files twice writes nothing.
create or replace temp table changed_rows as
with clean as (
    select
        order_id,
        customer_id,
        ordered_at,
        status
    from {{ stg }}
    where _reason is null
    qualify row_number() over (partition by order_id order by _file desc, _row desc) = 1
),

stored as (
    select
        order_id,
        customer_id,
        ordered_at,
        status
    from orders
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
    count(*) filter (where exists (
        select 1 from orders as t where t.order_id = c.order_id
    )) as updated
from changed_rows as c;

delete from orders as t
using changed_rows as c
where t.order_id = c.order_id;

insert into orders
select
    *,
    $run_id
from changed_rows;

select * from merge_stats;
