-- An engineer promoted a version the gate had rejected (`promote --force`): kept in its
-- scores as forced = {at, was}, next to the gate's verdict, before its status changes.
update model_versions
set scores = json_merge_patch(
    coalesce(scores, '{}'),
    json_object('forced', json_object('at', cast($now as varchar), 'was', status))
)
where version = $version;
