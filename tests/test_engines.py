"""Both engines on the tiny models: CTranslate2 against transformers, the compute-type choice,
and the engine recorded in every brief. Random weights: mechanics, never quality."""

from __future__ import annotations

import json

import pytest

from briefs.flows.briefs_flow import briefs
from briefs.tasks.core.config import CallBudget
from briefs.tasks.generation.batching import generate_texts
from briefs.tasks.ingest.text import split_sentences
from briefs.tasks.models import ct2
from briefs.tasks.models.loading import ModelUnavailable, choose_engine
from tests.corpus_sample import summaries
from tests.helpers import CTRANSLATE2, TRANSFORMERS, corpus_or_skip, tiny_config, tiny_model

GREEDY = {"num_beams": 1, "min_new_tokens": 4, "max_new_tokens": 24}


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    rows = summaries(corpus_or_skip(), 12)
    return [s for row in rows for s in split_sentences(row["article"])[:4]]


@pytest.mark.parametrize("role", ["summarizer", "de"])
def test_ctranslate2_greedy_output_matches_transformers(role, sentences):
    reference, converted = tiny_model(role, TRANSFORMERS), tiny_model(role, CTRANSLATE2)
    assert (reference.engine.name, converted.engine.name) == ("transformers", "ctranslate2")
    settings = reference.effective_settings(GREEDY)
    expected = generate_texts(reference, sentences, settings, CallBudget(4096))
    got = generate_texts(converted, sentences, settings, CallBudget(4096))
    share = sum(a == b for a, b in zip(expected, got, strict=True)) / len(sentences)
    print(f"{role}: CTranslate2 float32 greedy equals transformers on {share:.0%} of "
          f"{len(sentences)} inputs")
    assert len(set(expected)) > 1  # outputs depend on the input
    assert share >= 0.9


def test_auto_measures_the_compute_types_once_per_machine(tmp_path):
    model = tiny_model("summarizer", CTRANSLATE2)
    folder = ct2.converted_folder(model.model_id, model.revision, lambda: pytest.fail("again"))
    measured: list[str] = []

    def measure(kind: str) -> float:
        measured.append(kind)
        engine = tiny_model("summarizer", {"engine": "ctranslate2", "compute_type": kind}).engine
        return ct2.probe_seconds(engine.generate, model.count_tokens, model.max_input_tokens)

    for record in folder.glob("compute-type-*.json"):
        record.unlink()
    chosen = ct2.compute_type("auto", folder, "cpu", measure)
    assert sorted(measured) == ["float32", "int8"]
    [record] = folder.glob("compute-type-cpu-*.json")
    timings = json.loads(record.read_text())["seconds"]
    assert chosen == min(timings, key=timings.get)
    assert ct2.compute_type("auto", folder, "cpu", measure) == chosen
    assert len(measured) == 2  # remembered, not measured again
    assert ct2.compute_type("int8", folder, "cpu", measure) == "int8"


def test_the_model_loaded_to_convert_is_freed_when_the_conversion_is_done(tmp_path,
                                                                         monkeypatch):
    """A first night converts its models: the torch copy loaded for it must not wait for
    Python's next full collection (a torch model sits in reference cycles; on a cold cache
    a 2,000-article night held about 1 GiB more for its first half)."""
    import gc
    import weakref

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from briefs.tasks.core.config import load_config
    from briefs.tasks.models.tiny import tiny_model_path

    folder = tiny_model_path(load_config("tiny").models.translator("de").id)
    monkeypatch.setenv("BRIEFS_CACHE_DIR", str(tmp_path))  # converted anew, in here
    loaded: list[weakref.ref] = []

    def load():
        model = AutoModelForSeq2SeqLM.from_pretrained(folder)
        loaded.append(weakref.ref(model))
        return model, AutoTokenizer.from_pretrained(folder)

    collecting = gc.isenabled()
    gc.disable()  # no automatic collection may free it in time by chance
    try:
        converted = ct2.converted_folder(str(folder), "test", load)
        assert len(loaded) == 1 and loaded[0]() is None, "the model loaded to convert is alive"
    finally:
        if collecting:
            gc.enable()
    assert converted.parent == tmp_path / "ctranslate2"


def test_processes_measuring_at_once_agree_on_the_first_choice(tmp_path):
    """Two workers measuring at the same time must brief with one compute type: it is in
    every reuse key, so a shard run again on another worker would otherwise brief anew."""
    other_process_choice: list[str] = []

    def int8_fastest_here(kind: str) -> float:
        if not other_process_choice:  # meanwhile another process finishes first: float32
            other_process_choice.append(
                ct2.compute_type("auto", tmp_path, "cpu", lambda k: k != "float32"))
        return 0.0 if kind == "int8" else 1.0

    assert ct2.compute_type("auto", tmp_path, "cpu", int8_fastest_here) == "float32"
    assert other_process_choice == ["float32"]
    assert [p.name for p in tmp_path.iterdir()] == [
        next(tmp_path.glob("compute-type-cpu-*.json")).name]  # no staging file left


def test_engine_choice_follows_the_architecture():
    assert choose_engine("auto", "bart", "m") == "ctranslate2"
    assert choose_engine("auto", "gpt2", "m") == "transformers"
    assert choose_engine("transformers", "marian", "m") == "transformers"
    with pytest.raises(ModelUnavailable, match="cannot run on CTranslate2"):
        choose_engine("ctranslate2", "gpt2", "m")


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("engine", [TRANSFORMERS, CTRANSLATE2, {"engine": "ctranslate2",
                                                                 "compute_type": "int8"}],
                         ids=["transformers", "ctranslate2", "ctranslate2-int8"])
def test_each_engine_briefs_and_is_recorded_in_every_brief(engine, tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for row in summaries(corpus_or_skip(), 2):
        (source / f"{row['id']}.txt").write_text(row["article"])
    config = tiny_config(tmp_path, "engine", runtime=engine)

    state = briefs(str(source), str(dest), languages=["de", "fr"], config=config,
                   return_state=True)

    assert state.is_completed(), state.message
    written = list((dest / "briefs").glob("*.json"))
    assert len(written) == 2
    for path in written:
        brief = json.loads(path.read_text())
        assert set(brief["summaries"]) == {"en", "de", "fr"}
        for role in ("summarizer", "translator_de", "translator_fr"):
            model = brief["models"][role]
            assert (model["engine"], model["compute_type"]) == (engine["engine"],
                                                                engine["compute_type"])


@pytest.mark.usefixtures("prefect_api")
def test_changing_the_engine_briefs_again(tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    [row] = summaries(corpus_or_skip(), 1)
    (source / "a.txt").write_text(row["article"])
    for engine in (TRANSFORMERS, CTRANSLATE2):
        config = tiny_config(tmp_path, engine["engine"], runtime=engine)
        briefs(str(source), str(dest), languages=["de"], config=config, return_state=True)
        manifest = json.loads((dest / "manifest.json").read_text())
        assert manifest["counts"]["succeeded"] == 1  # briefed, not skipped, both times


def test_without_the_ct2_extra_auto_runs_transformers_and_ctranslate2_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    from briefs.tasks.models.loading import ModelUnavailable, choose_engine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ctranslate2" else real(name, *a))
    assert choose_engine("auto", "bart", "sshleifer/distilbart-cnn-12-6") == "transformers"
    with pytest.raises(ModelUnavailable, match=r"pip install 'briefs\[ct2\]'"):
        choose_engine("ctranslate2", "bart", "sshleifer/distilbart-cnn-12-6")
