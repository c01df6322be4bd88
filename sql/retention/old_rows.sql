-- Audit rows older than the retention cut-offs: runs by when they started, quarantine rows by
-- when they were quarantined (a NULL cut-off: keep all).
select
    (select count(*) from runs where started_at < cast($runs_before as timestamp)) as runs,
    (
        select count(*) from quarantine
        where quarantined_at < cast($quarantine_before as timestamp)
    ) as quarantine;
