-- A contract column that files may lack (added to the contract later): when no file of the
-- entity has it, it is added empty, so staging reads it like any other optional column.
alter table {{ raw }} add column if not exists {{ column }} varchar;
