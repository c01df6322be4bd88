-- Customers who get lists as of $as_of: signed up before it. email_consent gates the email list.
with final as (
    select
        customer_id,
        email_consent
    from customers
    where signup_date < cast($as_of as date)
)

select * from final
order by customer_id;
