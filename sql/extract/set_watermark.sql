-- Inside the extract transaction: a failed run leaves the previous watermark.
delete from source_watermarks
where source = $source and entity = $entity;

insert into source_watermarks
values ($source, $entity, $watermark, $run_id, $loaded_at::timestamp);
