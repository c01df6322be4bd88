-- Tonight's lists (registered as report_tonight: channel, customer_id, product_id) against
-- the published lists of $previous, per channel: the customers with a list in the channel on
-- both nights, tonight's rows of those customers, and how many of those rows are new (their
-- product was not in the customer's list of that channel on $previous). See
-- models/publish_checks.py.
with previous as (
    select
        channel,
        customer_id,
        product_id
    from offers
    where as_of = cast($previous as date)
),

listed_before as (
    select distinct
        channel,
        customer_id
    from previous
),

continuing as (
    select
        tonight.channel,
        tonight.customer_id,
        tonight.product_id
    from report_tonight as tonight
    semi join listed_before using (channel, customer_id)
),

final as (
    select
        continuing.channel,
        count(distinct continuing.customer_id) as customers,
        count(*) as offers,
        count(*) filter (where previous.product_id is null) as new_offers
    from continuing
    left join previous using (channel, customer_id, product_id)
    group by continuing.channel
)

select * from final
order by channel;
