-- _row counts data rows from 1 within each file, in file order.
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
