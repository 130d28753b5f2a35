"""Pre-flight: each mistake a run would meet late ends the command in one line that names
the way out, within seconds and before any Prefect server starts or model loads; a flow run
that fails it ends Failed with the same lines. And the run's progress on the terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from briefs.tasks.core.config import CONFIGS_DIR, CallBudget
from tests.helpers import SEEDS, briefs_command, problem_lines, run_logs, tiny_config

TINY = ("--models", "tiny", "--languages", "de")
FAST = 10.0  # seconds: a mistake is told within this, command start included
NIGHT = "2026-11-27"


def told_in_one_line(result: tuple[int, str, float], *expected: str,
                     lines: int = 1) -> list[str]:
    """The command failed fast with `lines` problem lines holding each `expected` text, no
    traceback, and neither a Prefect server started nor a model loaded."""
    code, output, seconds = result
    problems = problem_lines(output)
    assert code == 1, output
    assert len(problems) == lines, output
    assert "Traceback" not in output, output
    assert "Starting temporary server" not in output and "load-models" not in output
    assert seconds < FAST, (seconds, output)
    for text in expected:
        assert any(text in line for line in problems), (text, output)
    return problems


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_file_as_source_is_told_with_its_folder(tmp_path: Path):
    seed = next(SEEDS.glob("*.txt"))
    told_in_one_line(briefs_command("run", str(seed), str(tmp_path / "out"), *TINY),
                     f"source {seed} is a file, not a folder", f"holds it ({SEEDS})")
    assert not (tmp_path / "out").exists()


def test_an_empty_night_fails_naming_where_it_looked_unless_allowed(tmp_path: Path):
    night = tmp_path / "in" / NIGHT
    night.mkdir(parents=True)
    (tmp_path / "in" / "2026-11-26").mkdir()
    (tmp_path / "in" / "2026-11-26" / "a.txt").write_text("An article. " * 20)

    told_in_one_line(briefs_command("run", str(night), str(tmp_path / "out"), *TINY),
                     f"source {night}: 0 objects there, fewer than alerts.min_objects (1)",
                     "nearest folders", "2026-11-26", "alerts.min_objects to 0")

    allowed = tiny_config(tmp_path, "empty-ok", alerts={"min_objects": 0})
    code, output, _ = briefs_command("check", str(night), str(tmp_path / "out"),
                                     "--config", allowed, "--languages", "de")
    assert code == 0 and output.startswith(f"ok: {night} → "), output


def test_a_misspelt_s3_prefix_names_the_bucket_and_the_nearest_prefixes(s3, tmp_path: Path):
    s3.create_bucket(Bucket="pf-news")
    for night in ("2026-11-26", NIGHT, "2026-12-01"):
        s3.put_object(Bucket="pf-news", Key=f"{night}/a.txt", Body=b"An article.")
    [line] = told_in_one_line(
        briefs_command("run", "s3://pf-news/2026-11-2/", str(tmp_path / "out"), *TINY),
        "source s3://pf-news/2026-11-2/: 0 objects there", "the bucket pf-news exists",
        f"s3://pf-news/{NIGHT}/")
    assert line.index(f"s3://pf-news/{NIGHT}/") < line.index("s3://pf-news/2026-12-01/")


def test_missing_source_and_destination_buckets_are_told_before_any_model_loads(s3):
    s3.create_bucket(Bucket="pf-output")
    source, dest = "s3://pf-no-such-input/x/", "s3://pf-ouput/x/"  # a typo of pf-output
    [missing_source, missing_dest] = told_in_one_line(
        briefs_command("run", source, dest, *TINY), lines=2)
    assert missing_source.startswith(f"briefs: source {source}: the bucket pf-no-such-input "
                                     "does not exist") and "(NoSuchBucket)" in missing_source
    assert missing_dest.startswith(f"briefs: dest {dest}: the bucket pf-ouput does not exist")
    # The nearest name first (other tests' buckets on the session's S3 may follow).
    assert "buckets with similar names: pf-output" in missing_dest, missing_dest


def test_an_unreachable_endpoint_is_one_line_in_seconds(s3_endpoint, tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    told_in_one_line(briefs_command("run", "s3://news-in/x/", "s3://news-out/x/", *TINY,
                                    env={"AWS_ENDPOINT_URL": url}),
                     f"S3 at {url} (AWS_ENDPOINT_URL) cannot be reached", "AWS_ENDPOINT_URL")


def test_an_endpoint_that_never_answers_times_out_in_seconds(s3_endpoint):
    with socket.socket() as silent:  # takes connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        told_in_one_line(briefs_command("check", "s3://news-in/x/", "s3://news-out/x/", *TINY,
                                        env={"AWS_ENDPOINT_URL": url}),
                         f"S3 at {url} (AWS_ENDPOINT_URL) cannot be reached (ReadTimeoutError)")


@pytest.fixture(scope="module")
def guarded_s3() -> Iterator[tuple[str, str]]:
    """A moto S3 server of its own that checks credentials (the session's takes any): its
    URL, and the access key id of its one IAM user."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "2"}  # the user and its key
    server = subprocess.Popen([Path(sys.executable).with_name("moto_server"), "-H",
                               "127.0.0.1", "-p", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        for _ in range(100):
            try:
                iam.create_user(UserName="briefs")
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        yield url, iam.create_access_key(UserName="briefs")["AccessKey"]["AccessKeyId"]
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize(("key_id", "told"), [
    ("AKIAUNKNOWN000000000", "the access key id is not known there (InvalidAccessKeyId)"),
    (None, "the secret access key does not match the key id (SignatureDoesNotMatch)"),
])
def test_credentials_that_s3_refuses_are_one_line(guarded_s3, key_id, told):
    url, known_key = guarded_s3
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": key_id or known_key,
           "AWS_SECRET_ACCESS_KEY": "not-the-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    told_in_one_line(briefs_command("run", "s3://news-in/x/", "s3://news-out/x/", *TINY,
                                    env=env),
                     f"S3 at {url} (AWS_ENDPOINT_URL) refuses the credentials: {told}",
                     "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the environment)")


def test_missing_credentials_are_one_line(s3_endpoint, tmp_path: Path):
    env = {name: None for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                   "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    told_in_one_line(briefs_command("run", "s3://news-in/x/", str(tmp_path / "out"), *TINY,
                                    env=env),
                     "no usable AWS credentials", "set AWS_ACCESS_KEY_ID and "
                     "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or storage.aws_credentials_block")


def test_a_malformed_s3_uri_is_one_line_with_the_right_form(tmp_path: Path):
    told_in_one_line(briefs_command("run", "s3:/news", str(tmp_path / "out"), *TINY),
                     "source 's3:/news' is not an S3 URI: write s3://news ")


def test_an_environment_variable_typo_is_blamed_on_the_variable(tmp_path: Path):
    [line] = told_in_one_line(
        briefs_command("run", str(SEEDS), str(tmp_path / "out"), *TINY,
                       env={"BRIEFS_BATCHING__MAX_TOKEN": "4096"}),
        "invalid environment variable BRIEFS_BATCHING__MAX_TOKEN: batching.max_token: not "
        "a setting; did you mean BRIEFS_BATCHING__MAX_TOKENS?")
    assert "tiny.yaml" not in line


def test_a_missing_model_folder_is_not_an_unknown_preset(tmp_path: Path):
    folder = tmp_path / "models" / "my-bart"
    [line] = told_in_one_line(
        briefs_command("run", str(SEEDS), str(tmp_path / "out"), "--models", str(folder)),
        f"--models {folder}: no such model folder", "config.json", "default, tiny")
    assert "unknown model preset" not in line


def test_model_folders_of_a_config_file_are_checked(tmp_path: Path):
    empty, unsafe = tmp_path / "empty-model", tmp_path / "pickled-model"
    for folder in (empty, unsafe):
        folder.mkdir()
    (unsafe / "config.json").write_text(json.dumps({"model_type": "marian"}))
    (unsafe / "pytorch_model.bin").write_bytes(b"pickled weights")
    config = tiny_config(tmp_path, "folders", languages=["de", "fr"], models={
        "summarizer": {"id": str(empty)},
        "translators": {"de": {"id": str(tmp_path / "gone-en-de")}, "fr": {"id": str(unsafe)}}})
    told_in_one_line(briefs_command("check", str(SEEDS), str(tmp_path / "out"),
                                    "--config", config),
                     f"models.summarizer ({config}): the model folder {empty} holds no "
                     "config.json", f"models.translators.de ({config}): the model folder "
                     f"{tmp_path / 'gone-en-de'} does not exist",
                     f"models.translators.fr ({config}): the model folder {unsafe} holds no "
                     "safetensors weights", lines=3)


def test_a_misspelt_language_in_a_config_file_is_refused(tmp_path: Path):
    config = tiny_config(tmp_path, "fe", languages=["de", "fe"])
    told_in_one_line(briefs_command("run", str(SEEDS), str(tmp_path / "out"),
                                    "--config", config),
                     f"languages ({config}): 'fe' is not a language briefs translates into",
                     "did you mean fr?", "models.translators.fe")


def test_hub_models_not_in_the_cache_offline_are_one_line_each(tmp_path: Path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": None}
    default = str(CONFIGS_DIR / "default.yaml")
    told_in_one_line(briefs_command("check", str(SEEDS), str(tmp_path / "out"),
                                    "--languages", "de", env=env),
                     f"models.summarizer ({default}): model 'sshleifer/distilbart-cnn-12-6'",
                     f"models.translators.default ({default}): model "
                     "'Helsinki-NLP/opus-mt-en-de'", "HF_HUB_OFFLINE is set",
                     "hf download", lines=2)


def test_check_says_ok_for_a_run_that_would_start(s3, tmp_path: Path):
    s3.create_bucket(Bucket="pf-ok-in")
    s3.put_object(Bucket="pf-ok-in", Key=f"{NIGHT}/a.txt", Body=b"An article.")
    code, output, seconds = briefs_command("check", f"s3://pf-ok-in/{NIGHT}/",
                                           str(tmp_path / "out"), *TINY)
    assert code == 0, output
    assert output.startswith(f"ok: s3://pf-ok-in/{NIGHT}/ → {tmp_path / 'out'}, languages de")
    assert seconds < FAST and not (tmp_path / "out").exists()


def test_summaries_that_never_fit_name_min_new_tokens(summarizer):
    from briefs.tasks.generation.summarize import summarize_texts

    long_text = next(SEEDS.glob("*.txt")).read_text()[:1300]  # two windows' worth
    settings = {"num_beams": 1, "min_new_tokens": 150, "max_new_tokens": 150}  # > 256 / 2
    [result] = summarize_texts(summarizer, [long_text], settings, CallBudget(4096))
    assert isinstance(result, RuntimeError)
    assert str(result) == (
        "chunk summaries still did not fit one window (256 tokens) after 6 rounds: each "
        "chunk's summary is at least generation.summary.min_new_tokens (150) tokens long; "
        "set it below 128 (half the window) so that the summaries of several chunks fit one")


def test_the_cli_turns_off_the_servers_telemetry(tmp_path: Path):
    """Offline, the telemetry heartbeat of an ephemeral server logs an ERROR: off, as `make`
    has it."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_SERVER_ANALYTICS_ENABLED"}
    script = ("from briefs.flows.cli import prepare_process; prepare_process()\n"
              "from prefect.settings import get_current_settings\n"
              "print(get_current_settings().server.analytics_enabled)")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stdout + done.stderr


# Through the flow and the whole CLI: the session's Prefect API.


def test_a_flow_run_with_an_empty_source_ends_failed_with_the_line(prefect_api, tmp_path):
    from briefs.flows.briefs_flow import briefs

    night = tmp_path / "in" / NIGHT
    night.mkdir(parents=True)
    state = briefs(source=str(tmp_path / "in" / "{date}"), dest=str(tmp_path / "out"),
                   date=NIGHT, languages=["de"], models="tiny", return_state=True)

    assert state.is_failed()
    assert state.message == (f"source {night}: 0 objects there, fewer than "
                             "alerts.min_objects (1): check the source's prefix or date, or "
                             "set alerts.min_objects to 0 to let an empty night complete")
    logs = run_logs(state.state_details.flow_run_id)
    assert f"pre-flight: {state.message}" in logs
    assert not any("Traceback" in line for line in logs), logs
    assert not any("loaded" in line and "models" in line for line in logs), logs
    assert not (tmp_path / "out").exists()


def cli_env() -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value()}


def test_tracebacks_only_with_debug(prefect_api, tmp_path: Path):
    """A mistake the pre-flight cannot see (a model folder whose files are not a model)
    fails the run: in lines without --debug, with its tracebacks with it."""
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bart"}))
    (broken / "model.safetensors").write_bytes(b"not weights")
    config = tiny_config(tmp_path, "broken", models={"summarizer": {"id": str(broken)}})
    args = ("run", str(SEEDS), str(tmp_path / "out"), "--config", config, "--languages", "de")

    code, output, _ = briefs_command(*args, env=cli_env(), timeout=300)
    assert code == 1 and problem_lines(output), output
    assert "Traceback" not in output and "SafetensorError" in problem_lines(output)[-1]

    code, output, _ = briefs_command(*args, "--debug", env=cli_env(), timeout=300)
    assert code == 1 and "Traceback (most recent call last)" in output, output


def test_progress_lines_and_where_the_outputs_are(prefect_api, s3):
    s3.create_bucket(Bucket="pf-progress-in")
    s3.create_bucket(Bucket="pf-progress-out")
    seed = next(SEEDS.glob("*.txt")).read_text()[:800]
    for number in range(3):  # three different short articles, one batch each
        s3.put_object(Bucket="pf-progress-in", Key=f"{NIGHT}/{number}.txt",
                      Body=f"Story number {number}. {seed}".encode())
    dest = f"s3://pf-progress-out/{NIGHT}/"

    code, output, _ = briefs_command(
        "run", f"s3://pf-progress-in/{NIGHT}/", dest, *TINY, timeout=300,
        env={**cli_env(), "BRIEFS_BATCHING__ARTICLES_PER_TASK": "1"})

    assert code == 0, output
    progress = [line for line in output.splitlines() if line.startswith("progress: ")]
    assert [line.split(",")[0] for line in progress] == [
        f"progress: {n}/3 objects" for n in (1, 2, 3)], output
    assert all("articles/min" in line for line in progress)
    assert "3 articles done (3 written, 0 unchanged, 0 failed)" in progress[-1]
    assert "\n".join([f"written under {dest}",  # the last lines on stdout
                      f"  briefs     {dest}briefs/ (3 briefed by this run)",
                      f"  digest en  {dest}digests/en.md, {dest}digests/en.html",
                      f"  digest de  {dest}digests/de.md, {dest}digests/de.html",
                      f"  manifest   {dest}manifest.json\n"]) in output, output


def test_a_progress_bar_on_a_terminal(prefect_api, tmp_path: Path):
    out = tmp_path / "out"
    main, child = pty.openpty()
    env = {**os.environ, **cli_env(), "COLUMNS": "160", "TERM": "xterm"}
    with subprocess.Popen([sys.executable, "-m", "briefs.flows.cli", "run", str(SEEDS),
                           str(out), *TINY], stdin=child, stdout=child, stderr=child,
                          env=env) as process:
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=300)
    os.close(main)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    assert code == 0, screen
    assert "briefing" in screen and "━" in screen and "1/1 objects" in screen, screen
    assert "articles/min" in screen and "progress: " not in screen
    assert f"  manifest   {out}/manifest.json" in screen
    assert (out / "manifest.json").is_file()
