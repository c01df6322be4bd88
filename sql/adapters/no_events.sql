-- No events (the dataset has no browsing events); an empty, typed result.
select
    cast(null as varchar) as customer_id,
    cast(null as varchar) as product_id,
    cast(null as varchar) as event_type,
    cast(null as timestamp) as occurred_at,
    cast(null as varchar) as session_id
where false;
