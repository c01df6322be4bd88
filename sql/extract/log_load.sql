insert into load_log
select
    $run_id,
    $entity,
    $files,
    $rows_read,
    $inserted,
    $updated,
    $unchanged,
    $quarantined,
    $loaded_at::timestamp;
