-- The columns a source table has (lower-case names), to name a missing one before reading.
select lower(column_name::text) as column_name
from information_schema.columns
where table_schema = $schema::text and table_name = $table::text;
