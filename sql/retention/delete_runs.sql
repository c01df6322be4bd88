-- runs rows of runs that started before the cut-off (retention.runs_days).
delete from runs
where started_at < cast($runs_before as timestamp);
