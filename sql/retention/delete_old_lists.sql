-- Lists of as-of dates more than $days before the newest published one
-- (retention.offers_days): the offers, "goes with" lists and e-mail history of those nights;
-- never the rows of the runs in $keep_runs (a backfill just published an old date: its rows go
-- with the next run). Relative to the newest date, not the clock: what `latest` shows stays.
delete from goes_with
where
    as_of < (select max(as_of) from offers) - to_days(cast($days as integer))
    and not list_contains($keep_runs, run_id);

delete from sent_offers
where
    as_of < (select max(as_of) from offers) - to_days(cast($days as integer))
    and not list_contains($keep_runs, run_id);

delete from offers
where
    as_of < (select max(as_of) from offers) - to_days(cast($days as integer))
    and not list_contains($keep_runs, run_id);
