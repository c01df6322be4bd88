-- Upsert clean order_lines rows: a later file's row wins; rows identical to what is stored are
-- left alone, so loading the same files twice writes nothing.
create or replace temp table changed_rows as
with clean as (
    select
        order_id,
        line_no,
        product_id,
        quantity,
        unit_price
    from {{ stg }}
    where _reason is null
    qualify row_number() over (partition by order_id, line_no order by _file desc, _row desc) = 1
),

stored as (
    select
        order_id,
        line_no,
        product_id,
        quantity,
        unit_price
    from order_lines
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
        select 1 from order_lines as t where t.order_id = c.order_id and t.line_no = c.line_no
    )) as updated
from changed_rows as c;

delete from order_lines as t
using changed_rows as c
where t.order_id = c.order_id and t.line_no = c.line_no;

insert into order_lines
select
    *,
    $run_id
from changed_rows;

select * from merge_stats;
