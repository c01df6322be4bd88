-- The previous published night: the newest as-of date in offers before $as_of (NULL: none).
select max(as_of) as as_of
from offers
where as_of < cast($as_of as date);
