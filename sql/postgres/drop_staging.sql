-- The ingest table of a previous, interrupted offers generate --to.
drop table if exists {{ schema }}.{{ staging }};
