-- Tonight's list of one channel (registered as report_tonight: customer_id, product_id)
-- against that channel's published lists of $previous: the customers with a list on both
-- nights, tonight's rows of those customers, and how many of those rows are new (their
-- product was not in the customer's list on $previous). No row when no customer continues.
-- See models/publish_checks.py.
with previous as (
    select
        customer_id,
        product_id
    from offers
    where as_of = cast($previous as date) and channel = $channel
),

listed_before as (
    select distinct customer_id
    from previous
),

continuing as (
    select
        tonight.customer_id,
        tonight.product_id
    from report_tonight as tonight
    semi join listed_before using (customer_id)
),

final as (
    select
        $channel as channel,
        count(distinct continuing.customer_id) as customers,
        count(*) as offers,
        count(*) filter (where previous.product_id is null) as new_offers
    from continuing
    left join previous using (customer_id, product_id)
)

select * from final
where offers > 0;
