-- An export rewritten without the erased customers is a new run folder: the date's offers and
-- "goes with" rows name it from now on, so the export links (publish.reconcile) follow it.
update offers
set run_id = $new_run
where run_id = $old_run;

update goes_with
set run_id = $new_run
where run_id = $old_run;
