-- Files with another header: appended by column name (a column missing from them is NULL).
-- Read in the contract's dialect by contract_csv, which raw_csv (always run first) defines.
create or replace temp table {{ raw }}_unnumbered as
select *
from {{ raw }}_unnumbered
union all by name
select *
from contract_csv($files, $columns);
