-- UCI Online Retail: table parsed, one row per raw row with typed values and _reason, the one
-- reason it is dropped (null: it becomes an order line). $date_formats are the accepted
-- InvoiceDate formats; stock codes in $non_product_codes or starting with one of
-- $non_product_prefixes (upper-cased) are charges, fees or adjustments, not goods.
-- _truncated: the row is a file's unterminated last line (see rejected_lines). An invoice
-- number found in several files is taken from the file whose path sorts last (as extract does
-- with source files); its rows in the other files are dropped (the two UCI releases share
-- 2010-12-01 .. 2010-12-09).
create table parsed as
with cleaned as (
    select
        raw._file,
        raw._row,
        coalesce(raw._row = fi.truncated_row, false) as _truncated,
        nullif(trim(raw.InvoiceNo), '') as invoice,
        upper(nullif(trim(raw.StockCode), '')) as stock_code,
        nullif(trim(raw.Description), '') as description,
        trim(raw.Quantity) as quantity_text,
        try_strptime(trim(raw.InvoiceDate), $date_formats) as happened_at,
        try_cast(trim(raw.UnitPrice) as double) as price,
        trim(raw.CustomerID) as customer_text,
        nullif(nullif(trim(raw.Country), ''), 'Unspecified') as country
    from raw
    left join file_info as fi on fi.file = raw._file
),

typed as (
    select
        * exclude (quantity_text, customer_text),
        case
            when regexp_full_match(quantity_text, '-?[0-9]+(\.0+)?')
                then try_cast(quantity_text as integer)
        end as quantity,
        case
            when regexp_full_match(customer_text, '[0-9]+\.0+')
                then regexp_replace(customer_text, '\.0+$', '')
            else nullif(customer_text, '')
        end as customer_id,
        coalesce(upper(invoice) like 'C%', false) as is_cancellation,
        coalesce(
            list_contains($non_product_codes, stock_code)
            or list_bool_or(
                list_transform($non_product_prefixes, lambda p: starts_with(stock_code, p))
            ),
            false
        ) as is_non_product,
        coalesce(
            invoice is not null
            and _file < max(_file) filter (where not _truncated) over (partition by invoice),
            false
        ) as is_repeated_invoice
    from cleaned
),

checked as (
    select
        *,
        case
            when _truncated then 'truncated line'
            when is_repeated_invoice then 'invoice repeated in another file'
            when customer_id is null then 'no customer id'
            when invoice is null then 'no invoice number'
            when happened_at is null then 'unparseable InvoiceDate'
            when quantity is null then 'unparseable Quantity'
            when price is null or not isfinite(price) then 'unparseable UnitPrice'
            when stock_code is null then 'no stock code'
            when is_non_product then 'non-product stock code'
            when quantity = 0 then 'zero quantity'
            when quantity < 0 and not is_cancellation
                then 'negative quantity on a sale invoice'
            when quantity > 0 and is_cancellation
                then 'positive quantity on a cancellation invoice'
            when price <= 0 then 'non-positive price'
        end as _first_reason
    from typed
),

final as (
    select
        * exclude (_first_reason),
        case
            when _first_reason is null
                and min(customer_id) over invoice_rows
                <> max(customer_id) over invoice_rows
                then 'invoice with several customers'
            else _first_reason
        end as _reason
    from checked
    window invoice_rows as (partition by invoice, _first_reason is null)
)

select * from final;
