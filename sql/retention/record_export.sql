-- Retention deleted this run's export folder: the run's offers stay in the database, and the
-- export links no longer follow it (sql/publish/published_runs.sql leaves it out).
insert into pruned_exports (run_id, as_of, bytes, pruned_at)
select
    $run_id,
    cast($as_of as date),
    $bytes,
    cast($now as timestamp)
where not exists (select 1 from pruned_exports where run_id = $run_id);
