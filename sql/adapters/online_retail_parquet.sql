-- Online Retail from Parquet: table raw, one row per row of the files $files (read together,
-- columns matched by name), numbered from 1 per file, with the eight columns as text under
-- the CSV names. Each $<column> is a regular expression naming that column in either release
-- (InvoiceNo / Invoice, UnitPrice / Price, CustomerID / Customer ID); a file has exactly one.
create table raw as
select
    filename as _file,
    file_row_number + 1 as _row,
    cast(coalesce(*columns($invoice_no)) as varchar) as InvoiceNo,
    cast(coalesce(*columns($stock_code)) as varchar) as StockCode,
    cast(coalesce(*columns($description)) as varchar) as Description,
    cast(coalesce(*columns($quantity)) as varchar) as Quantity,
    cast(coalesce(*columns($invoice_date)) as varchar) as InvoiceDate,
    cast(coalesce(*columns($unit_price)) as varchar) as UnitPrice,
    cast(coalesce(*columns($customer_id)) as varchar) as CustomerID,
    cast(coalesce(*columns($country)) as varchar) as Country
from read_parquet($files, union_by_name = true, filename = true, file_row_number = true);
