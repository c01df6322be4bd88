-- A point lookup on the table's key (customer_id; product_id for goes_with) reads the index,
-- not every row group.
create index {{ table }}_by_{{ key }} on {{ table }} ({{ key }});
