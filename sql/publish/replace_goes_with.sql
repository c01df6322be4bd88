-- A run for a date replaces that date's "goes with" lists.
delete from goes_with
where as_of = cast($as_of as date);

insert into goes_with
select
    cast($as_of as date) as as_of,
    product_id,
    rank,
    goes_with_id,
    support,
    confidence,
    lift,
    $run_id as run_id
from new_goes_with;
