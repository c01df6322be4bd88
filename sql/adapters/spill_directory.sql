-- Where DuckDB spills to disk during an import (a folder inside the import's work folder).
set temp_directory = $path;
