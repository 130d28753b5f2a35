"""What a run may touch: `storage.allowed_sources` and `storage.allowed_dests`, by default a
deployment's own source and dest. A run outside them fails its pre-flight in one line, before
anything is read, written or probed. (Through a real deployment run: tests/test_deployment.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from briefs.tasks.core.config import StorageConfig
from briefs.tasks.run.locations import Allowed, allows
from briefs.tasks.run.preflight import preflight
from tests.helpers import SEEDS, briefs_command, deployment_of, problem_lines, tiny_config

NIGHTLY = {"source": "s3://news-in/{date}/", "dest": "s3://news-briefs/{date}/"}


@pytest.mark.parametrize(("pattern", "uri", "inside"), [
    ("s3://news-in/{date}/", "s3://news-in/2026-11-27/", True),
    ("s3://news-in/{date}/", "s3://news-in/2026-11-27", True),
    ("s3://news-in/{date}/", "s3://news-in/2026-11-27/World/", True),
    ("s3://news-in/{date}/", "s3://news-in/archive/", False),
    ("s3://news-in/", "s3://news-internal/2026-11-27/", False),  # whole segments only
    ("s3://news-in/", "s3://other-team/", False),
    ("s3://*/", "s3://any-bucket/x/", True),
    ("s3://*/", "/etc", False),  # a local path never matches an S3 pattern
    ("s3://*/", "file:///etc/", False),
    ("/srv/news/", "/srv/news/2026-11-27", True),
    ("/srv/news/", "file:///srv/news/2026-11-27/", True),
    ("/srv/news/", "/srv/news/../../etc", False),  # resolved before it is compared
    ("/srv/news/", "/srv/newsroom/", False),
    ("/srv/news/", "s3://srv/news/", False),
])
def test_a_pattern_covers_what_lies_under_it(pattern, uri, inside):
    assert allows(pattern, uri) is inside


def test_a_symbolic_link_cannot_lead_out_of_an_allowed_folder(tmp_path: Path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "etc").symlink_to("/etc")
    assert allows(str(allowed), str(allowed / "night"))
    assert not allows(str(allowed), str(allowed / "etc"))


def test_by_default_a_deployment_run_may_use_only_its_own_source_and_dest():
    default = Allowed.of(StorageConfig(), NIGHTLY)
    assert (default.sources, default.dests) == (["s3://news-in/{date}/"],
                                                ["s3://news-briefs/{date}/"])
    assert Allowed.of(StorageConfig(), {}).sources == []  # none of its own: nothing
    anywhere = Allowed.of(StorageConfig(), None)  # the command line
    assert (anywhere.sources, anywhere.dests) == (None, None)
    fenced = Allowed.of(StorageConfig(allowed_sources=["s3://a/"]), NIGHTLY)
    assert fenced.sources == ["s3://a/"] and fenced.dests == ["s3://news-briefs/{date}/"]


def test_a_form_run_pointed_at_the_workers_disk_or_another_bucket_fails_pre_flight(
        tmp_path: Path):
    wide = tiny_config(tmp_path, "wide", storage={"allowed_sources": ["/", "s3://*/"],
                                                  "allowed_dests": ["/", "s3://*/"]})
    for source, dest, wrong in [
            ("/etc", NIGHTLY["dest"], "source /etc is outside its deployment's own source "
                                      "(s3://news-in/{date}/): a run from a deployment may "
                                      "only read from there"),
            ("file:///etc/", NIGHTLY["dest"], "source file:///etc/ is outside"),
            ("s3://other-team/{date}/", NIGHTLY["dest"],
             "source s3://other-team/2026-11-27/ is outside"),
            (NIGHTLY["source"], "/tmp/briefs-stolen",
             "dest /tmp/briefs-stolen is outside its deployment's own dest")]:
        # A config file the form names cannot widen what the deployment allows.
        for config in (None, wide):
            report = preflight(source, dest, models="tiny", config_file=config,
                               languages=["de"], date="2026-11-27",
                               allowed=Allowed.of(StorageConfig(), NIGHTLY))
            assert len(report.problems) == 1 and report.problems[0].startswith(wrong), (
                report.problems)
            assert "storage.allowed_" in report.problems[0]  # the way out
            assert report.settings is None  # refused before the run's config was read


def test_configured_patterns_hold_for_every_run_and_the_date_is_checked_filled(
        tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BRIEFS_STORAGE__ALLOWED_SOURCES", f'["{SEEDS}/"]')
    monkeypatch.setenv("BRIEFS_STORAGE__ALLOWED_DESTS", f'["{tmp_path}/out/"]')
    inside = preflight(str(SEEDS), str(tmp_path / "out"), models="tiny", languages=["de"])
    assert inside.problems == []
    outside = preflight(str(SEEDS / ".."), str(tmp_path / "out" / ".." / "elsewhere"),
                        models="tiny", languages=["de"])
    assert [p.split(" is outside ")[1].split(":")[0] for p in outside.problems] == [
        f"storage.allowed_sources ({SEEDS}/)", f"storage.allowed_dests ({tmp_path}/out/)"]


def test_the_command_line_refuses_a_source_outside_the_configured_ones(tmp_path: Path):
    config = tiny_config(tmp_path, "fenced", storage={"allowed_sources": ["s3://news-in/"]})
    code, output, _ = briefs_command("check", str(SEEDS), str(tmp_path / "out"),
                                     "--config", config, "--languages", "de")
    assert code == 1 and "Traceback" not in output, output
    assert problem_lines(output) == [
        f"briefs: source {SEEDS} is outside storage.allowed_sources (s3://news-in/): give a "
        "source inside them, or have the operator add this one to storage.allowed_sources"], (
        output)


# --- a flow run of a real deployment on the session's Prefect API --------------------------

@pytest.mark.timeout(180)
@pytest.mark.usefixtures("prefect_api")
def test_a_deployment_run_reads_the_deployments_own_source_not_the_forms(tmp_path: Path,
                                                                         monkeypatch):
    """What the deployment allows is read from the API (its own parameters and config),
    whatever the run's parameters and config file say; a shard of no known parent run may
    touch nothing."""
    from types import SimpleNamespace

    from briefs.flows import briefs_flow
    from briefs.tasks.run.shards import ShardSpec

    own = {"source": str(SEEDS), "dest": str(tmp_path / "out"), "models": "tiny"}
    monkeypatch.setattr(briefs_flow, "deployment", SimpleNamespace(
        id=deployment_of(briefs_flow.briefs, "fenced", own)))
    wide = tiny_config(tmp_path, "wide", storage={"allowed_sources": ["/"]})
    state = briefs_flow.briefs(source="/etc", dest=str(tmp_path / "out"), models="tiny",
                               config=wide, languages=["de"], return_state=True)
    assert state.is_failed()
    assert state.message.startswith(f"source /etc is outside its deployment's own source "
                                    f"({SEEDS}): "), state.message
    assert not (tmp_path / "out").exists()

    monkeypatch.setattr(briefs_flow, "deployment", SimpleNamespace(
        id=deployment_of(briefs_flow.briefs_shard, "test-shard", {})))  # not scale's
    spec = ShardSpec(run_id="00000000-0000-0000-0000-000000000000", index=0, count=1,
                     keys=["passwd"], sizes=[1])
    state = briefs_flow.briefs_shard(shard=spec.model_dump(mode="json"), source="/etc",
                                     dest=str(tmp_path / "out"), models="tiny",
                                     return_state=True)
    assert state.is_failed()
    assert state.message.startswith("source /etc is outside its deployment's own source "
                                    "(none)"), state.message
    assert not (tmp_path / "out").exists()
