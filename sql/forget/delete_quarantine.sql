-- Quarantined rows that carry an erased customer_id (customers, orders, events as read), and
-- quarantined lines of their orders.
delete from quarantine
where
    nullif(trim(json_extract_string(record, '$.customer_id')), '')
    in (select customer_id from forget_ids)
    or (
        entity = 'order_lines'
        and nullif(trim(json_extract_string(record, '$.order_id')), '')
        in (select order_id from forget_quarantined_orders)
    );
