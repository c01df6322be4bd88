-- Tmall from the typed Parquet copy at $file: table raw with the CSV's columns as text, one
-- row per Parquet row in file order (numbered from 1); visit_datetime rebuilt as "M-D" from
-- month and day, so both copies parse alike (visit_date's year is not used: see tmall_parse).
create table raw as
select
    filename as _file,
    file_row_number + 1 as _row,
    cast(user_id as varchar) as user_id,
    cast(brand_id as varchar) as brand_id,
    cast(type as varchar) as type,
    cast(month as varchar) || '-' || cast(day as varchar) as visit_datetime
from read_parquet($file, filename = true, file_row_number = true);
