-- The contract's CSV dialect, set here once: every value as text (types are checked column
-- by column in staging); the dialect is set, not sniffed (column_types: the header's names,
-- read by flows/csvfiles.py); a row that does not parse stops the load (strict mode).
-- raw_csv_more reads with it too: it only ever runs after this file, on the same connection.
create or replace temp macro contract_csv(files, column_types) as table
select *
from read_csv(
    files,
    auto_detect = false,
    columns = column_types,
    header = true,
    delim = ',',
    quote = '"',
    escape = '"',
    encoding = 'utf-8',
    strict_mode = true,
    filename = '_file'
);

-- The first files' rows. The table keeps file order (insertion order is preserved), so
-- raw_csv_number can number the rows of each file.
create or replace temp table {{ raw }}_unnumbered as
select *
from contract_csv($files, $columns);
