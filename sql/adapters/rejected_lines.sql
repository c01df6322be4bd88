-- Tables reject_lines (one row per line the CSV reader rejected), file_info (per file: row
-- counts, whether the unterminated last line was rejected, else which parsed row it is, as
-- truncated_row) and rejected (each rejected line with its drop reason). Needs raw_rows.
create table reject_lines as
select
    scans.file_path as file,
    errors.line,
    min(errors.csv_line) as csv_line
from csv_rejects as errors
inner join csv_reject_scans as scans
    on scans.scan_id = errors.scan_id and scans.file_id = errors.file_id
group by all;

-- A rejected line is the unterminated last line when it is the file's last rejected line
-- and either ends with the tail's text or is numbered as the file's last line (header +
-- parsed rows + rejected lines); otherwise the last parsed row is that line.
create table file_info as
with counts as (
    select _file as file, count(*) as n_rows, max(_row) as last_row
    from raw
    group by _file
),

rejects as (
    select file, count(*) as n_rejected, max(line) as last_rejected_line
    from reject_lines
    group by file
),

joined as (
    select
        tails.file,
        tails.tail,
        coalesce(counts.n_rows, 0) as n_rows,
        counts.last_row,
        coalesce(rejects.n_rejected, 0) as n_rejected,
        rejects.last_rejected_line
    from tails
    left join counts using (file)
    left join rejects using (file)
),

flagged as (
    select
        joined.*,
        coalesce(
            joined.tail is not null
            and (
                ends_with(
                    rtrim(last_reject.csv_line, chr(13) || chr(10)),
                    rtrim(joined.tail, chr(13) || chr(10))
                )
                or last_reject.line = 1 + joined.n_rows + joined.n_rejected
            ),
            false
        ) as tail_rejected
    from joined
    left join reject_lines as last_reject
        on last_reject.file = joined.file
        and last_reject.line = joined.last_rejected_line
)

select
    *,
    case when tail is not null and not tail_rejected then last_row end as truncated_row
from flagged;

create table rejected as
select
    reject_lines.file,
    reject_lines.line,
    case
        when file_info.tail_rejected and reject_lines.line = file_info.last_rejected_line
            then 'truncated line'
        else 'malformed line'
    end as reason
from reject_lines
inner join file_info using (file);
