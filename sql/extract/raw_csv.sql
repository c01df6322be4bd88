-- Every value as text; types are checked column by column in staging.
-- The first table keeps file order (insertion order is preserved), so its rowid numbers the
-- rows; _row then counts data rows from 1 within each file (line number = _row + 1).
create or replace temp table {{ raw }}_unnumbered as
select *
from read_csv(
    $files,
    all_varchar = true,
    header = true,
    filename = '_file',
    union_by_name = true
);

create or replace temp table {{ raw }} as
with src as (
    select
        *,
        rowid as _rowid
    from {{ raw }}_unnumbered
),

final as (
    select
        * exclude (_rowid),
        _rowid - min(_rowid) over (partition by _file) + 1 as _row
    from src
)

select * from final;

drop table {{ raw }}_unnumbered;
