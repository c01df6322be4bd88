select cast({{ column }} as varchar) as value
from {{ raw }}
where _file = $file and _row = $row;
