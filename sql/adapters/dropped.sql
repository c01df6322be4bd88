-- Drop counts per reason: unparseable lines plus rows of parsed with a _reason.
select reason, count(*) as n from rejected group by reason
union all
select _reason, count(*) from parsed where _reason is not null group by _reason
order by n desc, reason;
