-- An engineer's promote (status 'promoted', promoted now, pinned) or rollback
-- (status 'rolled_back'); $pinned pins the version so the nightly gate keeps it.
update model_versions
set
    status = $status,
    promoted_at = case
        when $status = 'promoted' then cast($now as timestamp) else promoted_at
    end,
    pinned = cast($pinned as boolean)
where version = $version;
