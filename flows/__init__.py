"""nightly-offers: extract, learn, offer, publish; orchestrated by Prefect."""
