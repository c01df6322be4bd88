-- One table of the serving copy (flows/serving.py) from a Parquet file of the export, in the
-- file's order (a channel's long list comes sorted by customer_id, then rank).
create table {{ table }} as
select *
from read_parquet($path);
