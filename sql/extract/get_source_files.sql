-- Files of one entity recorded by earlier loads of this source folder.
select
    path,
    size,
    mtime_ns,
    fingerprint
from source_files
where source = $source and entity = $entity;
