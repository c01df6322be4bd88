-- Header of one CSV file: no rows, only the columns the reader sees.
select *
from read_csv($file, all_varchar = true, header = true)
limit 0;
