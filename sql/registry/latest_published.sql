-- The newest published as-of date, the run that wrote its offers, the version whose lists
-- they are, and whether that run recorded its e-mail as sent (a re-publish does the same:
-- the run's summary says so; runs older than that flag, or rewritten by an erasure, count
-- as recorded when the date has sent_offers rows).
with latest as (
    select
        as_of,
        run_id,
        any_value(model_version) as model_version
    from offers
    where as_of = (select max(as_of) from offers)
    group by as_of, run_id
)

select
    latest.as_of,
    latest.run_id,
    latest.model_version,
    coalesce(
        try_cast(runs.summary ->> 'sends_recorded' as boolean),
        exists (select 1 from sent_offers where sent_offers.as_of = latest.as_of)
    ) as sends_recorded
from latest
left join runs on runs.run_id = latest.run_id
order by latest.run_id desc
limit 1;
