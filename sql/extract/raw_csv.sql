-- Every value as text; types are checked column by column in staging. The contract's dialect
-- is set, not sniffed ($columns: the header's names, read by flows/csvfiles.py); a row that
-- does not parse stops the load (strict mode). The table keeps file order (insertion order
-- is preserved), so raw_csv_number can number the rows of each file.
create or replace temp table {{ raw }}_unnumbered as
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
