-- Files with another header: appended by column name (a column missing from them is NULL).
create or replace temp table {{ raw }}_unnumbered as
select *
from {{ raw }}_unnumbered
union all by name
select *
from read_csv(
    $files,
    auto_detect = false,
    columns = $columns,
    header = true,
    delim = ',',
    quote = '"',
    escape = '"',
    encoding = 'utf-8',
    strict_mode = true,
    filename = '_file'
);
