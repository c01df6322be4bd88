-- One row per trained model: promoted (published), or rejected by the gate (kept for audit).
insert into model_versions (version, kind, as_of, created_at, path, metadata, status, promoted_at, scores)
select
    $version,
    $kind,
    cast($as_of as date),
    cast($created_at as timestamp),
    $path,
    cast($metadata as json),
    $status,
    cast($promoted_at as timestamp),
    cast($scores as json);
