-- Products written inactive (no positive price seen) in the products Parquet file at $path.
select count(*) as inactive from read_parquet($path) where not active;
