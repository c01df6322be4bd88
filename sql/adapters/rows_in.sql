-- Data lines read: rows the CSV reader parsed plus lines it rejected.
select (select count(*) from raw) + (select count(*) from rejected) as rows_in;
