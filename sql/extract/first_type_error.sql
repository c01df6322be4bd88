-- The first row whose value could not be cast, and how many such rows there are.
with errors as (
    select
        _file,
        _row,
        _type_error
    from {{ stg }}
    where _type_error is not null
),

final as (
    select
        _file,
        _row,
        _type_error,
        count(*) over () as error_rows
    from errors
    order by _file, _row
    limit 1
)

select * from final;
