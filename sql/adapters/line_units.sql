-- Units on the order lines in the Parquet file at $path (adapters that fold one input row per
-- unit into a line's quantity account for their rows with this).
select coalesce(sum(quantity), 0) as units from read_parquet($path);
