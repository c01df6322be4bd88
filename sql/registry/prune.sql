-- Retention pruned this version's files (flows/retention.py): the row stays for audit with
-- status 'pruned' and when, so current_model (status 'promoted' only) never picks it again.
-- Only a promoted or rejected, unpinned version is pruned.
update model_versions
set
    status = 'pruned',
    pruned_at = cast($now as timestamp)
where
    version = $version
    and status in ('promoted', 'rejected')
    and not coalesce(pinned, false);
