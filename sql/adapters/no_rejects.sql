-- Parquet input: nothing the reader rejects and no unterminated last line. Tables rejected
-- (empty) and file_info (one row per file in raw, truncated_row null), as rejected_lines makes.
create table rejected as
select
    cast(null as varchar) as file,
    cast(null as bigint) as line,
    cast(null as varchar) as reason
where false;

create table file_info as
select distinct
    _file as file,
    cast(null as bigint) as truncated_row
from raw;
