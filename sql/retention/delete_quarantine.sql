-- quarantine rows stored before the cut-off (retention.quarantine_days).
delete from quarantine
where quarantined_at < cast($quarantine_before as timestamp);
