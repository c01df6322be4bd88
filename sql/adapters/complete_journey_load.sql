-- Complete Journey: table raw, one row per row of transactions.parquet at $transactions,
-- numbered from 1 in file order.
create table raw as
select
    filename as _file,
    file_row_number + 1 as _row,
    household_id,
    basket_id,
    product_id,
    quantity,
    sales_value,
    transaction_timestamp
from read_parquet($transactions, filename = true, file_row_number = true);

-- Table catalogue: one row per product_id of products.parquet at $products (the last row of
-- a repeated id), text values trimmed.
create table catalogue as
select
    nullif(trim(cast(product_id as varchar)), '') as product_id,
    nullif(trim(cast(department as varchar)), '') as department,
    nullif(trim(cast(product_category as varchar)), '') as product_category,
    nullif(trim(cast(product_type as varchar)), '') as product_type,
    nullif(trim(cast(package_size as varchar)), '') as package_size
from read_parquet($products, file_row_number = true)
where nullif(trim(cast(product_id as varchar)), '') is not null
qualify row_number() over (
    partition by nullif(trim(cast(product_id as varchar)), '') order by file_row_number desc
) = 1;
