-- Tables raw (every row the CSV reader parsed, as text, numbered per file) and tails (each
-- file's unterminated last line, or null). The files' headers have been checked: $columns maps
-- the expected column names to VARCHAR, by position. Lines the reader cannot parse go to
-- csv_rejects / csv_reject_scans.
create table raw_unnumbered as
select *
from read_csv(
    $files,
    header = true,
    columns = $columns,
    auto_detect = false,
    delim = ',',
    quote = '"',
    escape = '"',
    filename = '_file',
    store_rejects = true,
    rejects_table = 'csv_rejects',
    rejects_scan = 'csv_reject_scans'
);

-- Insertion order is file order, so rowid numbers the rows (as flows/extract.py does).
create table raw as
select
    * exclude (_rowid),
    _rowid - min(_rowid) over (partition by _file) + 1 as _row
from (select *, rowid as _rowid from raw_unnumbered);

drop table raw_unnumbered;

create table tails as
select
    unnest($files) as file,
    unnest($tails) as tail;
