"""The job's Prefect tasks and their logger, with or without a Prefect API.

Every stage task is a :class:`StageTask`: inside a flow run (the scheduled deployment, or
``offers run`` with ``PREFECT_API_URL`` set) it is an ordinary Prefect task run; called outside
one (``offers run`` without a Prefect server, see ``flows.orchestration``) it is the plain
function, so no temporary Prefect server is started. Options shared by every task: no result
caching or persistence (the job keeps its own state in the home folder; Prefect results would
copy large frames to disk).

``run_logger()`` is Prefect's run logger inside a flow or task run and the standard logger
``prefect.offers`` otherwise; both print in Prefect's console format at ``PREFECT_LOGGING_LEVEL``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

P = ParamSpec("P")
R = TypeVar("R")

TASK: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}
LOGGER = "prefect.offers"  # a child of "prefect": Prefect's console handler, format and level


class StageTask(Task[P, R]):
    """A Prefect task inside a flow run; outside one, a plain call of its function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if FlowRunContext.get() is None:
            return self.fn(*args, **kwargs)
        return super().__call__(*args, **kwargs)


def stage_task(name: str) -> Callable[[Callable[P, R]], StageTask[P, R]]:
    """Decorator: ``fn`` as the stage task ``name`` (see :class:`StageTask`)."""

    def decorate(fn: Callable[P, R]) -> StageTask[P, R]:
        return StageTask(fn, name=name, **TASK)

    return decorate


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """Prefect's run logger inside a flow or task run, else the standard ``prefect.offers``."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(LOGGER)
