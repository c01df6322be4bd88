-- One table of the serving copy (flows/serving.py) from the registered frame {{ frame }}, in
-- the frame's order (a keyed table comes sorted by its key, then rank).
create table {{ table }} as
select *
from {{ frame }};
