-- Rename/cast customers as read; flag the first column that does not cast (_type_error, which
-- stops the run) and the first rule a row breaks (_reason, which quarantines it).
-- A key repeated within one file is a duplicate; across files the later file wins (updates).
create or replace temp table {{ stg }} as
with src as (
    select * from {{ raw }}
),

typed as (
    select
        _file,
        _row,
        nullif(trim(cast(customer_id as varchar)), '') as customer_id,
        try_cast(email_consent as boolean) as email_consent,
        try_cast(signup_date as date) as signup_date,
        nullif(trim(cast(country as varchar)), '') as country,
        case
            when email_consent is not null and try_cast(email_consent as boolean) is null
                then 'email_consent'
            when signup_date is not null and try_cast(signup_date as date) is null
                then 'signup_date'
        end as _type_error
    from src
),

ranked as (
    select
        *,
        row_number() over (partition by _file, customer_id order by _row) as _seen
    from typed
),

final as (
    select
        * exclude (_seen),
        case
            when customer_id is null then 'missing_value:customer_id'
            when email_consent is null then 'missing_value:email_consent'
            when signup_date is null then 'missing_value:signup_date'
            when signup_date >= cast($loaded_at as timestamp) then 'future_timestamp:signup_date'
            when _seen > 1 then 'duplicate_key'
        end as _reason
    from ranked
)

select * from final;
