-- Timestamps as text in UTC, whatever the server's default; read-only: the job never writes
-- to the shop's database while reading it.
set time zone 'UTC';
set default_transaction_read_only = on;
