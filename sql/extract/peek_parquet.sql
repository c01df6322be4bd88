select *
from read_parquet($file)
limit 0;
