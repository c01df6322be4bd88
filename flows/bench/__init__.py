"""``offers bench``: the whole night against the bare libraries doing the same work.

The job side is the nightly run itself (``flows.nightly.run_nightly``, without Prefect, whose
overhead is fixed and reported by every ``offers run``): reconcile, extract, learn, gate,
offer, publish checks and publish, each stage's seconds from the run's own timings and its
peak resident memory sampled while it runs (``flows.stagetimer`` tells the sampler when a
stage starts and ends). The bare side is what a team would glue together by hand: one DuckDB
aggregate of weighted events and purchases over the same Parquet files, polars id maps, a
scipy CSR, the same ALS, and ``model.recommend`` for every customer.

Each side runs in a fresh process of its own (``sides.in_child``), so one side's memory never
counts against the other; with ``engine = "dask"`` the sampler adds the worker processes.
With ``incremental`` the job runs two nights: a full one the day before (the last day's rows
held back), then the last day's files arrive and the second night reads only them and
refreshes the model (``als.full_retrain_days``); the bare side is the full pipeline either way.

``shop`` makes the generated shop and the held-back split, ``memory`` samples resident memory,
``sides`` runs each side, ``report`` compares them.
"""
