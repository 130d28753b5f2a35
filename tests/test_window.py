"""The window planner on a scripted clock and scripted rates: when the night's window closes,
the forecast before the start and as objects finish, what would fit, and the kept rate."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from briefs.tasks.core.config import ConfigError, load_config
from briefs.tasks.run import window as planner

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = "2026-11-27"
START = datetime(2026, 11, 28, 2, 0, tzinfo=BERLIN)  # the schedule's 02:00 run


def test_the_window_of_a_night_closes_the_next_morning_in_the_schedules_timezone():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    assert end == datetime(2026, 11, 28, 6, 0, tzinfo=BERLIN)
    assert end.utcoffset() == timedelta(hours=1)  # CET in November
    summer = planner.window_end("06:00", "2026-07-01", "Europe/Berlin")
    assert summer.isoformat() == "2026-07-02T06:00:00+02:00"


def test_a_night_that_fits_is_forecast_within_its_window():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    made = planner.forecast(START, end, done=0, total=2000, rate=10.0, workers=1)  # 200 min: 05:20
    assert made.finish == "2026-11-28T05:20:00+01:00"
    assert not made.late and made.workers_to_fit is None
    assert "within the window" in made.sentence()


def test_a_night_that_misses_says_by_how_much_and_how_many_workers_would_fit():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    made = planner.forecast(START, end, done=0, total=2000, rate=5.0, workers=1)  # 400 min: 08:40
    assert made.late_seconds == 160 * 60
    assert made.workers_to_fit == 2  # 2,000 objects in 240 min at 5 a minute each
    assert made.sentence() == (
        "forecast finish 2026-11-28T08:40:00+01:00 misses the window "
        "(2026-11-28T06:00:00+01:00) by 160 min at 5.0 objects/min on 1 workers; 2 workers "
        "would fit (add 1)")


def test_the_workers_to_add_count_from_those_online_in_the_pool():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    # 2,000 objects at 2/min per worker on 2 shard runs: 500 min; 240 min left fit 5 workers.
    made = planner.forecast(START, end, done=0, total=2000, rate=4.0, workers=2,
                            online_workers=3)
    assert made.workers_to_fit == 5 and made.record()["online_workers"] == 3
    assert made.sentence().endswith("5 workers would fit (add 2 to the 3 online in the pool)")


def shard_deployment_on_pool(client, name: str, concurrency_limit: int) -> None:
    """A process pool `<name>-pool` with the limit, and a deployment `<name>-shard/shard` on it."""
    from prefect import flow
    from prefect.client.schemas.actions import WorkPoolCreate

    client.create_work_pool(WorkPoolCreate(name=f"{name}-pool", type="process",
                                           concurrency_limit=concurrency_limit), overwrite=True)
    flow_id = client.create_flow(flow(name=f"{name}-shard")(lambda: None))
    client.create_deployment(flow_id, "shard", work_pool_name=f"{name}-pool",
                             entrypoint="tests/test_window.py:nothing")


def test_the_fan_out_reads_the_pools_online_workers_and_limit(prefect_api):
    """On a real API: a pool with a concurrency limit, no worker, then one heartbeating."""
    from prefect.client.orchestration import get_client

    from briefs.flows.fan_out import PoolNow, pool_now

    with get_client(sync_client=True) as client:
        shard_deployment_on_pool(client, "window", concurrency_limit=3)
        assert pool_now("window-shard/shard") == PoolNow("window-pool", 0, 3)
        assert pool_now("window-shard/shard").bound(4) == 3
        client.send_worker_heartbeat("window-pool", "worker-1", heartbeat_interval_seconds=30)
        assert pool_now("window-shard/shard").online_workers == 1
    assert pool_now("no-such/deployment") is None


def test_the_forecast_follows_the_run_as_objects_finish():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    later = START + timedelta(hours=3)
    # 1,000 of 2,000 done at 05:00 on 2 workers at 8/min together: 125 min left, 07:05.
    made = planner.forecast(later, end, done=1000, total=2000, rate=8.0, workers=2)
    assert made.finish == "2026-11-28T07:05:00+01:00" and made.late
    assert made.workers_to_fit == 5  # 1,000 in the 60 min left at 4/min per worker: 4.2 → 5
    done = planner.forecast(later, end, done=2000, total=2000, rate=8.0, workers=2)
    assert done.finish == later.isoformat() and not done.late


def test_no_rate_no_forecast_and_a_passed_window_fits_no_workers():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    unknown = planner.forecast(START, end, done=0, total=10, rate=None)
    assert unknown.finish is None and not unknown.late
    assert "no rate measured" in unknown.sentence()
    past = planner.forecast(end + timedelta(hours=1), end, done=0, total=10, rate=100.0)
    assert past.late and past.workers_to_fit is None
    assert "the window has passed" in past.sentence()


def test_the_fan_out_takes_the_fewest_workers_that_fit():
    end = planner.window_end("06:00", NIGHT, "Europe/Berlin")
    assert planner.workers_for(2000, 5.0, START, end, most=4) == 2
    assert planner.workers_for(2000, 1.0, START, end, most=4) == 4  # none fits: all there are
    assert planner.workers_for(100, 5.0, START, end, most=4) == 1
    assert planner.workers_for(2000, None, START, end, most=4) == 4  # no rate: all


def test_the_rate_is_kept_per_machine_and_settings_and_averaged(tmp_path):
    path = planner.rate_file(tmp_path, "abc123")
    assert planner.read_rate(path) is None
    assert planner.keep_rate(path, objects=100, seconds=600) == 10.0
    assert planner.keep_rate(path, objects=300, seconds=600) == 20.0  # (30 + 10) / 2
    assert planner.read_rate(path) == 20.0
    assert json.loads(path.read_text())["last"] == 30.0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging file left
    assert planner.rate_file(tmp_path, "other") != path


def test_finish_by_is_a_local_time(monkeypatch):
    monkeypatch.setenv("BRIEFS_WINDOW__FINISH_BY", "6 am")
    with pytest.raises(ConfigError, match="window.finish_by"):
        load_config("tiny")
    monkeypatch.setenv("BRIEFS_WINDOW__FINISH_BY", "06:00")
    assert load_config("tiny").window.finish_by == "06:00"


# --- through a flow run on the session's Prefect API ----------------------------------------

def late_events(run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    with get_client(sync_client=True) as client:
        return client.read_events(EventFilter(
            event=EventNameFilter(name=["briefs.run.late"]),
            resource=EventResourceFilter(id=[f"briefs.run.{run_id}"])), limit=10).events


def test_a_night_that_cannot_meet_its_window_says_so_and_emits_late(prefect_api, tmp_path,
                                                                     monkeypatch):
    """Last night's window closed a minute ago (the run started late): the first forecast
    with a rate misses, the run says so once, emits briefs.run.late, still briefs the night,
    and records the forecasts, the finish and the rate it measured. A re-run of an older
    night, and a run of chosen articles, forecast nothing."""
    import shutil
    import time

    from prefect.artifacts import Artifact

    from briefs.flows.briefs_flow import briefs
    from briefs.flows.window_watch import rate_path
    from tests.helpers import SEEDS

    closed = (datetime.now(BERLIN) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    night = (closed.date() - timedelta(days=1)).isoformat()
    shutil.rmtree(rate_path(load_config("tiny")).parent, ignore_errors=True)  # no rate yet
    monkeypatch.setenv("BRIEFS_WINDOW__FINISH_BY", closed.strftime("%H:%M"))
    state = briefs(str(SEEDS), str(tmp_path / "out"), date=night, languages=["de"],
                   models="tiny", return_state=True)
    assert state.is_completed(), state.message
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    window = manifest["window"]
    assert window["finish_by"] == closed.isoformat()
    assert window["late_seconds"] > 0 and window["finished"] > window["finish_by"]
    first, *later = window["forecasts"]
    assert first["done"] == 0 and first["finish"] is None  # no rate to forecast from
    assert later and later[-1]["done"] == later[-1]["total"] == manifest["counts"]["total"]
    assert all(f["late_seconds"] > 0 and f["workers_to_fit"] is None for f in later)
    for _ in range(30):  # the server stores events asynchronously
        if events := late_events(manifest["run_id"]):
            break
        time.sleep(1)
    [event] = events  # once, not at every forecast
    assert "the window has passed: no number of workers fits" in event.payload["message"]
    progress = Artifact.get(f"briefs-progress-{night}")
    assert progress is not None and "Window: forecast finish" in progress.description
    assert planner.read_rate(rate_path(load_config("tiny", languages=["de"]))) > 0

    old = briefs(str(SEEDS), str(tmp_path / "old"), date=NIGHT, languages=["de"],
                 models="tiny", return_state=True)
    assert old.is_completed(), old.message
    assert "window" not in json.loads((tmp_path / "old" / "manifest.json").read_text())


def test_the_forecast_counts_no_more_workers_at_work_than_are_online(prefect_api, tmp_path,
                                                                      monkeypatch):
    """A night that needs every shard run planned (4), with one worker online: the first
    forecast runs at one worker's measured rate, not four's, and counts the workers to add
    from that one; with no worker online yet (the shards wait), at the planned four's."""
    from prefect import flow

    from briefs.flows.window_watch import WindowWatch, rate_path

    monkeypatch.setenv("BRIEFS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BRIEFS_WINDOW__FINISH_BY", "06:00")
    settings = load_config("tiny")
    planner.keep_rate(rate_path(settings), objects=10, seconds=60)  # 10 a minute, one worker
    tonight = datetime.now(ZoneInfo(settings.schedule.timezone)).date().isoformat()

    @flow(name="window-online")
    def first_forecast(online: int) -> tuple[int, planner.Forecast]:
        watch = WindowWatch(settings, tonight, 100_000, "online-run", "out")
        planned = watch.plan_workers(4, online)
        watch.start()
        return planned, watch.forecasts[0]

    planned, made = first_forecast(1)
    assert planned == 4  # 100,000 objects at 10 a minute each need more than 4
    assert (made.rate, made.workers, made.online_workers) == (10.0, 1, 1)
    assert made.late and f"add {made.workers_to_fit - 1} to the 1 online" in made.sentence()
    _, nobody = first_forecast(0)
    assert (nobody.rate, nobody.workers, nobody.online_workers) == (40.0, 4, 0)


def test_a_fan_out_plans_within_the_pool_and_says_what_keeps_it_from_starting(
        prefect_api, monkeypatch, caplog):
    """The fan-out's plan on a real API: within the pool's concurrency limit; a paused pool
    with no worker online is said, and its shards still get one slot (they wait for it);
    without a pool to read, all of scale.max_in_flight."""
    import logging

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate

    from briefs.flows.briefs_flow import _plan_fan_out
    from briefs.flows.window_watch import WindowWatch

    monkeypatch.setenv("BRIEFS_SCALE__SHARD_DEPLOYMENT", "plan-shard/shard")
    settings = load_config("tiny")
    with get_client(sync_client=True) as client:
        shard_deployment_on_pool(client, "plan", concurrency_limit=2)

    @flow(name="window-plan")
    def plan(shards: int) -> int:
        return _plan_fan_out(settings, WindowWatch(settings, NIGHT, 500, "plan-run", "out"),
                             shards)

    assert settings.scale.max_in_flight > 2
    with caplog.at_level(logging.WARNING):
        assert plan(8) == 2  # the pool's limit, under scale.max_in_flight
        assert plan(1) == 1
    assert "no worker is online in the work pool 'plan-pool'" in caplog.text
    with get_client(sync_client=True) as client:
        client.update_work_pool("plan-pool", WorkPoolUpdate(is_paused=True,
                                                            concurrency_limit=0))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert plan(8) == 1
    assert "the work pool 'plan-pool' is paused" in caplog.text
    assert "has a concurrency limit of 0" in caplog.text
    monkeypatch.setenv("BRIEFS_SCALE__SHARD_DEPLOYMENT", "no-such/deployment")
    settings = load_config("tiny")
    assert plan(8) == min(settings.scale.max_in_flight, 8)
    with get_client(sync_client=True) as client:  # the session's API is shared
        client.delete_work_pool("plan-pool")
