-- Everything written into the database file itself (no .wal left beside it) before it is closed
-- and checksummed.
checkpoint;
