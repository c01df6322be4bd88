-- Tables the job owns. Source entities follow docs/data-contract.md column for column,
-- plus the run that last wrote each row. Uniqueness is enforced by the extract stage (no
-- primary keys or ART indexes: they cost memory at 30M rows).

-- Timestamps are UTC. A source value with an offset is converted to UTC; one without is UTC.
set TimeZone = 'UTC';

-- Casts used by staging: NULL when the value does not convert (the caller reports it).
create or replace temp macro utc_timestamp(x) as
    timezone('UTC', try_cast(x as timestamptz));
-- a whole number: '2' and '2.0' are, '1.5' is not (a plain cast would round it to 2)
create or replace temp macro whole_number(x) as
    case
        when try_cast(x as double) = trunc(try_cast(x as double))
            then try_cast(try_cast(x as double) as integer)
    end;

create table if not exists customers (
    customer_id varchar not null,
    email_consent boolean not null,
    signup_date date not null,
    country varchar,
    loaded_run varchar not null
);

create table if not exists products (
    product_id varchar not null,
    title varchar not null,
    category varchar not null,
    price double not null,
    stock integer not null,
    active boolean not null,
    repurchase_interval_days integer,
    loaded_run varchar not null
);

create table if not exists orders (
    order_id varchar not null,
    customer_id varchar not null,
    ordered_at timestamp not null,
    status varchar not null,
    loaded_run varchar not null
);

create table if not exists order_lines (
    order_id varchar not null,
    line_no integer not null,
    product_id varchar not null,
    quantity integer not null,
    unit_price double not null,
    loaded_run varchar not null
);

create table if not exists events (
    customer_id varchar not null,
    product_id varchar not null,
    event_type varchar not null,
    occurred_at timestamp not null,
    session_id varchar not null,
    loaded_run varchar not null
);

-- Rows that were well-formed but failed a rule; never silently dropped.
create table if not exists quarantine (
    run_id varchar not null,
    entity varchar not null,
    source_file varchar not null,
    source_row bigint not null,
    reason varchar not null,
    record json not null,
    quarantined_at timestamp not null
);

create table if not exists load_log (
    run_id varchar not null,
    entity varchar not null,
    files integer not null,
    rows_read bigint not null,
    inserted bigint not null,
    updated bigint not null,
    unchanged bigint not null,
    quarantined bigint not null,
    loaded_at timestamp not null
);

-- PostgreSQL source (flows/pgsource.py): per source database and entity, the newest watermark
-- loaded; the next run reads rows above it. Written in the extract transaction.
create table if not exists source_watermarks (
    source varchar not null,
    entity varchar not null,
    watermark varchar not null,
    run_id varchar not null,
    loaded_at timestamp not null
);

-- Source files (flows/sourcefiles.py): per source folder and entity, each file loaded and its
-- cheap fingerprint; the next extract skips files that did not change. Written in the extract
-- transaction.
create table if not exists source_files (
    source varchar not null,
    entity varchar not null,
    path varchar not null,
    size bigint not null,
    mtime_ns bigint not null,
    fingerprint varchar not null,
    run_id varchar not null,
    loaded_at timestamp not null
);

create table if not exists runs (
    run_id varchar not null,
    as_of date not null,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
    summary json
);

create table if not exists model_versions (
    version varchar not null,
    kind varchar not null,
    as_of date not null,
    created_at timestamp not null,
    path varchar not null,
    metadata json not null
);

-- What the shop reads: one ranked list per customer and channel per as-of date.
create table if not exists offers (
    as_of date not null,
    channel varchar not null,
    customer_id varchar not null,
    rank integer not null,
    product_id varchar not null,
    score double not null,
    source varchar not null,
    run_id varchar not null,
    model_version varchar not null
);

-- The latest published list per customer and channel.
create or replace view current_offers as
with latest as (
    select max(as_of) as as_of
    from offers
),

final as (
    select offers.*
    from offers
    inner join latest using (as_of)
)

select * from final;

-- Model registry columns (added in place on databases created before them).
alter table model_versions add column if not exists status varchar;
alter table model_versions add column if not exists promoted_at timestamp;
alter table model_versions add column if not exists scores json;
alter table model_versions add column if not exists pinned boolean default false;

-- Product links for email-ready exports (added in place on databases created before them;
-- NULL where the source has none).
alter table products add column if not exists url varchar;
alter table products add column if not exists image_url varchar;

-- Why each offer is there, and the customer's segment (added in place on older databases).
alter table offers add column if not exists reason varchar;
alter table offers add column if not exists anchor_id varchar;
alter table offers add column if not exists reason_text varchar;
alter table offers add column if not exists segment varchar;

-- What was sent, per channel (today: email), for "no repeats across nights". Written by nightly
-- runs for today's date (and by backfills only when asked): a backfill's lists were never sent.
create table if not exists sent_offers (
    channel varchar not null,
    customer_id varchar not null,
    product_id varchar not null,
    as_of date not null,
    run_id varchar not null
);

-- "Goes with" lists for product pages, per as-of date (replaced by a re-run of the date).
create table if not exists goes_with (
    as_of date not null,
    product_id varchar not null,
    rank integer not null,
    goes_with_id varchar not null,
    support bigint not null,
    confidence double not null,
    lift double not null,
    run_id varchar not null
);

-- Retention (flows/retention.py): when a model version's files were deleted (status 'pruned'),
-- and which runs' export folders were deleted (their offers rows stay; no link follows them).
alter table model_versions add column if not exists pruned_at timestamp;
create table if not exists pruned_exports (
    run_id varchar not null,
    as_of date not null,
    bytes bigint not null,
    pruned_at timestamp not null
);
