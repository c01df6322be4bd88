"""prefect.yaml: the nightly deployment points at the real flow on a valid schedule."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parent.parent


def test_nightly_deployment_is_loadable_and_scheduled():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = config["deployments"]
    assert deployment["name"] == "nightly"
    flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
    assert flow.name == "nightly"
    assert set(flow.parameters.properties) == {"as_of", "home", "source", "record_sends"}
    assert deployment["concurrency_limit"] == 1
    (schedule,) = deployment["schedules"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert cron.cron == "30 2 * * *"
