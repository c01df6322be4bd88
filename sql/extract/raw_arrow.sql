-- Rows read from PostgreSQL (flows/pgsource.py) into the raw shape files give: every value as
-- text, _file a label naming the table (never credentials), _row the row number.
create or replace temp table {{ raw }} as
select
    * exclude (_row),
    $file as _file,
    _row
from {{ batches }};
