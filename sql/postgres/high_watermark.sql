-- The newest watermark now: this load reads up to it, the next one after it.
select max({{ watermark }})::timestamptz::text as until
from {{ schema }}.{{ table }};
