"""prefect.yaml and the two ways the job runs on Prefect.

* The deployment: loadable, scheduled, and deployed for real: a Prefect server of its own on a
  free loopback port, ``prefect deploy --all``, a process worker running one triggered run
  that publishes (no network needed beyond 127.0.0.1).
* The CLI: without a Prefect API it runs the stages without starting a temporary server; with
  ``PREFECT_API_URL`` pointing at nothing it exits 7 with one line.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from helpers import END, rows
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from flows.cli import app
from flows.orchestration import NO_SERVER
from flows.publish import verify
from flows.tasks import StageTask, run_logger, stage_task

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the environment running the tests: prefect, offers
CONFIG = "[als]\nfactors = 8\niterations = 3\n"
SERVER_START_S = 90  # a cold server on a busy 2-core machine takes 10-25 s


def test_nightly_deployment_is_loadable_and_scheduled():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = config["deployments"]
    assert deployment["name"] == "nightly"
    flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    assert flow.name == "nightly"
    assert set(flow.parameters.properties) >= {"as_of", "home", "source", "record_sends"}
    assert deployment["concurrency_limit"] == 1
    (schedule,) = deployment["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert cron.cron == "30 2 * * *"
    # the stages are Prefect tasks inside the deployment's flow run
    from flows import delivery, gating, nightly

    for stage in (nightly.extract_task, nightly.learn_task, nightly.offer_task,
                  gating.gate_task, gating.choose_task, delivery.publish_task):  # fmt: skip
        assert isinstance(stage, StageTask)


def test_fastapi_accepts_the_nulls_prefect_clients_send():
    """FastAPI 0.151 started validating explicit JSON nulls in body parameters; Prefect 3.8's
    client sends ``"limit": null`` and ``prefect deploy``/``deployment ls`` then fail with 422
    (docs/operations.md). The deployment test below shows it for real."""
    import fastapi
    from packaging.version import Version

    assert Version(fastapi.__version__) < Version("0.151"), fastapi.__version__


# --- the real thing: server, deploy, worker, one run ----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prefect_env(prefect_home: Path, api_url: str | None) -> dict[str, str]:
    """This environment without any Prefect profile, API or key of the machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OFFERS_"))}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",  # a failure's log says why
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _cli(args: list[str], env: dict[str, str], *, timeout: float = 60, cwd: Path = ROOT) -> str:
    """Run a CLI of this environment; its output, or a failure naming the command and output."""
    done = subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real ``prefect server start`` on a free loopback port with its own PREFECT_HOME,
    stopped afterwards (also when a test fails); yields the environment its clients use."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=_prefect_env(home, None), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with everything it started
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"prefect server exited {server.returncode}: {_tail(home)}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not up after {SERVER_START_S} s: {_tail(home)}")
            time.sleep(0.3)
        yield _prefect_env(home, url)
    finally:
        _stop(server)
        log.close()


def _tail(home: Path) -> str:
    return (home / "server.log").read_text()[-3000:]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group we started, SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def test_deployment_deploys_and_a_worker_run_publishes(prefect_api, small_shop, tmp_path):
    """prefect.yaml as an operator uses it: work pool, ``prefect deploy --all`` (exit 0),
    ``prefect deployment ls``, one triggered run executed by a process worker."""
    env = prefect_api
    _cli(["prefect", "work-pool", "create", "offers", "--type", "process"], env)
    deployed = _cli(["prefect", "--no-prompt", "deploy", "--all"], env, timeout=120)
    assert "Deployment 'nightly/nightly' successfully created" in deployed
    assert "nightly/nightly" in _cli(["prefect", "deployment", "ls"], env)

    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    started = _cli(
        ["prefect", "deployment", "run", "nightly/nightly", "--param", f"as_of={END}"], env
    )
    match = re.search(r"UUID: ([0-9a-f-]{36})", started)
    assert match, started
    flow_run_id = match.group(1)

    worker_env = {**env, "OFFERS_REPO_DIR": str(ROOT), "OFFERS_HOME": str(home),
                  "OFFERS_SOURCE_DIR": str(small_shop)}  # fmt: skip
    # --run-once: picks up the run scheduled for now, runs it in a subprocess, waits, exits
    worker = _cli(["prefect", "worker", "start", "--pool", "offers", "--run-once"], worker_env,
                  timeout=180, cwd=tmp_path)  # fmt: skip
    state = httpx.get(f"{env['PREFECT_API_URL']}/flow_runs/{flow_run_id}", timeout=10).json()
    assert state["state_type"] == "COMPLETED", worker[-4000:]

    manifest = verify(home / "exports" / "latest")
    assert manifest["as_of"] == END.isoformat()
    ((count,),) = rows(home / "offers.duckdb", f"select count(*) from offers where as_of = '{END}'")
    assert count > 0


# --- the CLI without a Prefect API, and with one that is not there ---------------------------


def test_run_without_a_prefect_api_starts_no_server(small_shop, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "offers.toml").write_text(CONFIG)
    env = _prefect_env(tmp_path / "prefect-home", None)
    t0 = time.perf_counter()
    output = _cli(
        ["offers", "run", "--home", str(home), "--source", str(small_shop), "--as-of", str(END)],
        env, timeout=120,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    assert NO_SERVER in output
    assert "temporary server" not in output.lower()  # Prefect logs it at INFO when it starts one
    assert "Flow run" not in output and "Task run" not in output
    assert "prefect.offers - trained" in output  # the stages' log lines, without a run context
    assert f"exports: {home / 'exports' / END.isoformat()}" in output
    verify(home / "exports" / END.isoformat())
    assert seconds < 60, seconds  # generous: a temporary server alone takes 15-45 s


def test_an_unreachable_prefect_api_exits_7_with_one_line(small_shop, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api"
        with temporary_settings(updates={PREFECT_API_URL: url}):
            runner = CliRunner()
            result = runner.invoke(
                app, ["run", "--home", str(home), "--source", str(small_shop), "--as-of",
                      str(END)],
            )  # fmt: skip
            backfill = runner.invoke(
                app, ["backfill", "--home", str(home), "--source", str(small_shop), "--start",
                      str(END - dt.timedelta(days=1)), "--end", str(END)],
            )  # fmt: skip
    assert result.exit_code == 7, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: the Prefect API at {url} (PREFECT_API_URL) is not usable")
    assert "unset PREFECT_API_URL to run without Prefect" in line
    assert "Traceback" not in result.output
    assert not (home / "offers.duckdb").exists()  # checked before anything ran
    assert backfill.exit_code == 7, backfill.output
    assert backfill.output.strip().splitlines()[-1].startswith("error: the Prefect API at")


def test_a_stage_task_outside_a_flow_run_is_a_plain_call(monkeypatch, caplog):
    import prefect.task_engine

    def no_engine(*args, **kwargs):
        raise AssertionError("the Prefect task engine ran outside a flow run")

    monkeypatch.setattr(prefect.task_engine, "run_task", no_engine)

    @stage_task("double")
    def double(x: int) -> int:
        run_logger().warning("doubling %d", x)
        return 2 * x

    with caplog.at_level("WARNING", logger="prefect.offers"):
        assert double(21) == 42
    assert "doubling 21" in caplog.text
