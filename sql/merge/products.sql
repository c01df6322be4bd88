-- Upsert clean products rows: a later file's row wins; rows identical to what is stored are
-- left alone, so loading the same files twice writes nothing.
create or replace temp table changed_rows as
with clean as (
    select
        product_id,
        title,
        category,
        price,
        stock,
        active,
        repurchase_interval_days,
        url,
        image_url
    from {{ stg }}
    where _reason is null
    qualify row_number() over (partition by product_id order by _file desc, _row desc) = 1
),

stored as (
    select
        product_id,
        title,
        category,
        price,
        stock,
        active,
        repurchase_interval_days,
        url,
        image_url
    from products
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
        select 1 from products as t where t.product_id = c.product_id
    )) as updated
from changed_rows as c;

delete from products as t
using changed_rows as c
where t.product_id = c.product_id;

-- by name: url and image_url were added to existing databases after loaded_run
insert into products by name
select
    *,
    $run_id as loaded_run
from changed_rows;

select * from merge_stats;
