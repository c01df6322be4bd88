-- Table macros the marts share. Temp (session) objects: flows/db.py creates them on every
-- connection, read-only ones too, after sql/schema/init.sql has made the tables they read.

-- Products seen before as_of: any browsing event or any order line of an order placed before
-- it. sql/marts/products.sql (the products a model trained as of then may know) and
-- sql/marts/new_products.sql (the offerable products nobody has interacted with) both use it.
create or replace temp macro seen_products(as_of) as table
    select distinct product_id
    from events
    where occurred_at < cast(as_of as timestamp)
    union
    select distinct order_lines.product_id
    from order_lines
    inner join orders using (order_id)
    where orders.ordered_at < cast(as_of as timestamp);
