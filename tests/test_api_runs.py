"""The Python API of standalone runs and schedules (``workbench.api``)."""

from __future__ import annotations

import pytest
from store_helpers import write_pipelines

from workbench import api


@pytest.mark.slow
def test_run_pipeline_list_runs_by_namespace_and_schedules(fresh_home, tmp_path):
    pipes = write_pipelines(tmp_path / "pipes")
    record = api.run_pipeline(pipes["demo"], {"n": 2}, namespace="team-a", metrics=["loss"], workspace=fresh_home)
    assert record.state == "Succeeded" and record.metrics == {"loss": 0.5}
    frame = api.list_runs(namespace="team-a", workspace=fresh_home)
    assert list(frame["run_id"]) == [record.run_id] and frame["metrics.loss"].iloc[0] == 0.5
    assert api.list_runs(namespace="team-b", workspace=fresh_home).empty
    assert api.get_run(record.run_id[:6], workspace=fresh_home).run_id == record.run_id
    api.create_schedule("hourly", pipeline=pipes["demo"], every="1h", namespace="team-a", workspace=fresh_home)
    schedules = api.list_schedules(namespace="team-a", workspace=fresh_home)
    assert list(schedules["name"]) == ["hourly"] and schedules["next_fire"].notna().all()
    assert api.set_schedule_enabled("hourly", False, "team-a", workspace=fresh_home).enabled is False
    api.delete_schedule("hourly", "team-a", workspace=fresh_home)
    assert api.list_schedules(workspace=fresh_home).empty
