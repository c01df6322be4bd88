-- Every row of one table of a serving copy, in stored order.
select *
from {{ table }};
