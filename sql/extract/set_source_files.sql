-- Inside the extract transaction: a failed run records nothing. Every file the entity has now
-- is recorded (loaded or skipped as already loaded); a file gone from the folder loses its
-- record (the rows it loaded stay).
delete from source_files
where source = $source and entity = $entity;

insert into source_files
select
    $source,
    $entity,
    unnest($paths::varchar []),
    unnest($sizes::bigint []),
    unnest($mtimes::bigint []),
    unnest($fingerprints::varchar []),
    $run_id,
    $loaded_at::timestamp;
