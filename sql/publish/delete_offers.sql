-- A run for a date replaces that date's lists (re-runs and backfills are safe): first the
-- date's rows go, then publish/insert_offers adds tonight's, block by block.
delete from offers
where as_of = cast($as_of as date);
