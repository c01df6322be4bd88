-- The next block of a table of the serving copy (flows/serving.py), in the frame's order.
insert into {{ table }}
select *
from {{ frame }};
