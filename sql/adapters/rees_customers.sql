-- REES46 customers: everyone with a dated row; signed up on their first day seen. Consent is
-- stable: the first 32 bits of md5(customer_id) below $consent_threshold. No country.
with customers as (
    select
        customer_id,
        stable_consent(customer_id, $consent_threshold) as email_consent,
        cast(min(happened_at) as date) as signup_date,
        null as country
    from parsed
    where not _truncated and customer_id is not null and happened_at is not null
    group by customer_id
)

select
    cast(customer_id as varchar) as customer_id,
    cast(email_consent as boolean) as email_consent,
    cast(signup_date as date) as signup_date,
    cast(country as varchar) as country
from customers
order by customer_id;
