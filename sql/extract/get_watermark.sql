select watermark
from source_watermarks
where source = $source and entity = $entity;
