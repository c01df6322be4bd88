-- Contact fields of the customers contract an email export carries next to each list
-- (the optional columns; today: country). The latest value loaded.
with final as (
    select
        customer_id,
        country
    from customers
)

select * from final
order by customer_id;
