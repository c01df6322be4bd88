-- Move the ingested rows into the entity table (updated_at takes its default, now()).
insert into {{ schema }}.{{ table }} select * from {{ schema }}.{{ staging }};
drop table {{ schema }}.{{ staging }};
