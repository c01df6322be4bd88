-- Row numbers count rows from 1 within each file.
create or replace temp table {{ raw }} as
with src as (
    select *
    from read_parquet(
        $files,
        filename = '_file',
        file_row_number = true,
        union_by_name = true
    )
),

final as (
    select
        * exclude (file_row_number),
        file_row_number + 1 as _row
    from src
)

select * from final;
