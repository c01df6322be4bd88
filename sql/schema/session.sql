-- Settings of every connection the job opens (flows/db.py, flows/serving.py). No progress
-- bar: DuckDB draws one on stdout for queries over 2 s, which fills unattended runs' logs.
set enable_progress_bar = false;
