update model_versions
set pinned = false
where pinned;
