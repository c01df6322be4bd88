"""Options every Prefect task of the job shares: no result caching or persistence (the job
keeps its own state in the home folder; Prefect results would copy large frames to disk)."""

from prefect.cache_policies import NO_CACHE

TASK = {"cache_policy": NO_CACHE, "persist_result": False}
