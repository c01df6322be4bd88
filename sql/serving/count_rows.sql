-- The rows of one table of the serving copy (its manifest entry).
select count(*)
from {{ table }};
