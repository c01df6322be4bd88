-- Per channel on one published night: customers with a list and rows (offers).
select
    channel,
    count(distinct customer_id) as customers,
    count(*) as offers
from offers
where as_of = cast($as_of as date)
group by channel
order by channel;
