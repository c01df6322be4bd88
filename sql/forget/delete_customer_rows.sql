-- The rows of {{ table }} (customers, events, offers, sent_offers) of the customers erased;
-- returns how many.
delete from {{ table }}
where customer_id in (select customer_id from forget_ids);
