-- A generated shop's entity table (offers generate --to): typed like the Arrow data ingested
-- into it, plus the watermark column the reader selects by.
drop table if exists {{ schema }}.{{ table }};
create table {{ schema }}.{{ table }} (like {{ schema }}.{{ staging }});
alter table {{ schema }}.{{ table }} add column updated_at timestamptz not null default now();
