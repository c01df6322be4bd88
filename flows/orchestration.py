"""How ``offers run``/``backfill``/``demo`` run the nightly job: on Prefect or without it.

* A Prefect API is configured (``PREFECT_API_URL`` in the environment, the Prefect profile or
  ``prefect.toml``): the API is health-checked first, then the ``nightly`` flow runs in this
  process as a flow run of that server, so CLI runs and backfills show in its UI. A Prefect
  failure (unreachable, incompatible, an API error) raises :class:`OrchestrationError` (exit 7).
* None is configured: the flow's function runs directly (``nightly.fn``); the stage tasks are
  plain calls outside a flow run (``flows.tasks.StageTask``), so no temporary Prefect server is
  started (15-45 s, and it can time out on a busy machine). Same stages, same summary, same
  ``runs`` row; only the Prefect UI does not see the run.

The scheduled deployment (``prefect.yaml``) is untouched by this: a worker runs the flow as a
real Prefect flow run.
"""

from __future__ import annotations

import os
from typing import Any

from flows.errors import OffersError, OrchestrationError, redact

NO_SERVER = (
    "no Prefect server configured: running the stages without Prefect "
    "(set PREFECT_API_URL to see runs in the UI)"
)
CHECK_TIMEOUT_S = 10.0
_DETAIL_CHARS = 200


def configured_api() -> str | None:
    """The Prefect API URL from Prefect's settings (environment, profile), or None."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def prepare() -> str | None:
    """The Prefect API the run will use, checked to answer; None: run without Prefect."""
    url = configured_api()
    if url is not None:
        check_api(url)
    return url


def check_api(url: str) -> None:
    """Raise :class:`OrchestrationError` unless the API at ``url`` answers and speaks our major
    version."""
    from prefect.client.orchestration import get_client

    problem: BaseException | None
    try:
        with get_client(sync_client=True, httpx_settings={"timeout": CHECK_TIMEOUT_S}) as client:
            problem = client.api_healthcheck()
            if problem is None:
                client.raise_for_api_version_mismatch()
    except Exception as exc:
        problem = exc
    if problem is not None:
        raise OrchestrationError(
            f"the Prefect API at {url} (PREFECT_API_URL) is not usable ({_detail(problem)}); "
            "start the server (prefect server start) or point PREFECT_API_URL at a running one, "
            "or unset PREFECT_API_URL to run without Prefect"
        ) from None


def run_nightly(api: str | None, **params: Any) -> dict[str, Any]:
    """Run the nightly job with ``params`` (as_of, home, source, record_sends): as a flow run
    of ``api``, or without Prefect when ``api`` is None (see :func:`prepare`)."""
    from flows.nightly import nightly

    if api is None:
        return nightly.fn(**params)
    source = params.get("source")
    if source is not None and redact(str(source)) != str(source):
        # a flow run's parameters are stored by the server: a source URL with a password goes
        # by the environment of this process (the flow runs here), never as a parameter
        os.environ["OFFERS_SOURCE_DIR"] = str(source)
        params = {**params, "source": None}
    try:
        return nightly(**params)
    except OffersError:
        raise
    except Exception as exc:
        if not is_prefect_failure(exc):
            raise
        raise OrchestrationError(
            f"the Prefect API at {api} (PREFECT_API_URL) failed during the run "
            f"({_detail(exc)}); check the server, then re-run the same command "
            "(or unset PREFECT_API_URL to run without Prefect)"
        ) from exc


def is_prefect_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from talking to Prefect rather than from a stage."""
    import httpx
    from prefect.exceptions import (
        ParameterBindError,
        ParameterTypeError,
        PrefectException,
        SignatureMismatchError,
    )

    if isinstance(exc, httpx.HTTPError):
        return True
    if isinstance(exc, ParameterTypeError | ParameterBindError | SignatureMismatchError):
        return False  # a call that does not fit the flow: a bug here, not Prefect's
    if isinstance(exc, PrefectException):
        return True
    # the engine's own wording when the API cannot be reached or speaks another version
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        text.startswith("Failed to reach API") or "incompatible versions" in text
    )


def _detail(exc: BaseException) -> str:
    """One short line: the error's type and first words, without rich markup brackets."""
    text = " ".join(str(exc).split()) or "no detail"
    if len(text) > _DETAIL_CHARS:
        text = text[: _DETAIL_CHARS - 3] + "..."
    text = text.replace("[", "(").replace("]", ")")
    return f"{type(exc).__name__}: {text}"
