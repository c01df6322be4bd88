insert into model_versions
select
    $version,
    $kind,
    cast($as_of as date),
    cast($created_at as timestamp),
    $path,
    cast($metadata as json);
