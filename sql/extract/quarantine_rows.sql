-- Rows that failed a rule keep their original values (as read) and the reason.
-- A row already quarantined by an earlier load of the same file is not stored twice.
insert into quarantine
with bad as (
    select
        _file,
        _row,
        _reason
    from {{ stg }}
    where _reason is not null
),

final as (
    select
        $run_id as run_id,
        $entity as entity,
        bad._file as source_file,
        bad._row as source_row,
        bad._reason as reason,
        to_json(raw) as record,
        $loaded_at::timestamp as quarantined_at
    from bad
    inner join {{ raw }} as raw
        on raw._file = bad._file and raw._row = bad._row
)

select * from final
where not exists (
    select 1
    from quarantine as q
    where q.entity = final.entity
        and q.source_file = final.source_file
        and q.source_row = final.source_row
        and q.reason = final.reason
        and q.record = final.record
);
