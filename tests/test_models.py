"""Model loading: real `from_pretrained`, once per process, safetensors only, clear failures."""

from __future__ import annotations

import json

import pytest

from briefs.tasks.core.config import ModelRef, RuntimeConfig
from briefs.tasks.models.loading import ModelUnavailable, load_model
from tests.helpers import CTRANSLATE2, TRANSFORMERS, tiny_model

ON_TRANSFORMERS = RuntimeConfig(**TRANSFORMERS)  # these tests compare torch weights


def test_tiny_models_load_through_from_pretrained(summarizer, translator_de):
    assert type(summarizer.model).__name__ == "BartForConditionalGeneration"
    assert type(translator_de.model).__name__ == "MarianMTModel"
    assert summarizer.random_weights and "random-weights" in summarizer.model_id
    assert summarizer.max_input_tokens == 256 and summarizer.revision


def test_each_model_is_loaded_once_per_process(summarizer):
    again = tiny_model("summarizer", TRANSFORMERS)
    assert again is summarizer and again.model is summarizer.model


def test_a_model_that_cannot_be_had_names_itself_and_the_ways_out(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as caught:
        load_model(ModelRef(id="Helsinki-NLP/opus-mt-en-xx-not-cached"))
    message = str(caught.value)
    assert "Helsinki-NLP/opus-mt-en-xx-not-cached" in message
    assert "--models tiny" in message and "HF_HOME" in message and "local folder" in message


def test_a_folder_works_as_a_model_id(summarizer, tmp_path):
    summarizer.model.save_pretrained(tmp_path)
    summarizer.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(ModelRef(id=str(tmp_path)), ON_TRANSFORMERS)
    assert type(loaded.model).__name__ == "BartForConditionalGeneration"


@pytest.mark.parametrize("engine", [TRANSFORMERS, CTRANSLATE2], ids=["transformers", "ct2"])
def test_pickled_weights_are_refused(summarizer, tmp_path, engine):
    import torch

    summarizer.model.config.save_pretrained(tmp_path)
    summarizer.tokenizer.save_pretrained(tmp_path)
    torch.save(summarizer.model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle
    with pytest.raises(ModelUnavailable, match="safetensors"):
        load_model(ModelRef(id=str(tmp_path)), RuntimeConfig(**engine))


@pytest.mark.parametrize("engine", [TRANSFORMERS, CTRANSLATE2], ids=["transformers", "ct2"])
def test_remote_code_is_never_run(summarizer, tmp_path, engine):
    summarizer.model.save_pretrained(tmp_path)
    summarizer.tokenizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSeq2SeqLM": "evil.EvilModel"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "remote-code-ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    loaded = load_model(ModelRef(id=str(tmp_path)), RuntimeConfig(**engine))
    assert loaded.engine.name == engine["engine"]  # the built-in classes, no remote code
    [output] = loaded.engine.generate(["The council met on Monday."], {"max_new_tokens": 4})
    assert isinstance(output, str)
    assert not marker.exists()


HUB_ID = "briefs-test/tiny-bart"
FIRST_COMMIT = "1" * 40
SECOND_COMMIT = "2" * 40


def _perturbed(model):
    """A copy of `model` with every weight shifted, so its saved files differ."""
    import copy

    import torch

    changed = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in changed.parameters():
            parameter.add_(0.25)
    return changed


def _same_weights(a, b) -> bool:
    """Whether two models hold the same first weight tensor."""
    import torch

    return torch.equal(next(a.parameters()).cpu(), next(b.parameters()).cpu())


def _save(folder, model, tokenizer) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache folder, set as users set it (HF_HUB_CACHE), offline."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads the variable once, at import; its functions read this constant.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def _cache_snapshot(cache, commit: str, model, tokenizer, refs: tuple[str, ...] = ("main",)):
    """Lay a snapshot out as huggingface_hub's cache does, point `refs` at it, return it."""
    repo = cache / ("models--" + HUB_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    _save(snapshot, model, tokenizer)
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot


def test_a_hub_model_records_the_commit_of_the_cached_snapshot_it_loaded(summarizer, hub_cache):
    first, second = summarizer.model, _perturbed(summarizer.model)
    snapshot = _cache_snapshot(hub_cache, FIRST_COMMIT, first, summarizer.tokenizer,
                               refs=("main", "v1"))
    loaded = load_model(ModelRef(id=HUB_ID), ON_TRANSFORMERS)
    assert loaded.revision == FIRST_COMMIT
    assert _same_weights(loaded.model, first)
    weights = snapshot / "model.safetensors"
    weights.rename(weights.with_suffix(".aside"))  # served from memory, or it would fail
    # main unmoved: the model loaded already
    assert load_model(ModelRef(id=HUB_ID), ON_TRANSFORMERS) is loaded
    weights.with_suffix(".aside").rename(weights)

    _cache_snapshot(hub_cache, SECOND_COMMIT, second, summarizer.tokenizer)  # main moves on
    again = load_model(ModelRef(id=HUB_ID), ON_TRANSFORMERS)
    assert again.revision == SECOND_COMMIT
    assert _same_weights(again.model, second)

    for pinned in (FIRST_COMMIT, "v1"):  # a commit, and a tag that names it
        assert load_model(ModelRef(id=HUB_ID, revision=pinned), ON_TRANSFORMERS) is loaded


def test_a_folder_records_a_hash_of_its_weights_and_reloads_when_they_change(
        summarizer, tmp_path):
    _save(tmp_path, summarizer.model, summarizer.tokenizer)
    ref = ModelRef(id=str(tmp_path))
    loaded = load_model(ref, ON_TRANSFORMERS)
    assert loaded.revision.startswith("sha256:") and len(loaded.revision) == len("sha256:") + 16
    assert load_model(ref, ON_TRANSFORMERS) is loaded  # unchanged weights: the model loaded already

    changed = _perturbed(summarizer.model)
    _save(tmp_path, changed, summarizer.tokenizer)
    again = load_model(ref, ON_TRANSFORMERS)
    assert again.revision.startswith("sha256:") and again.revision != loaded.revision
    assert _same_weights(again.model, changed)
    assert not _same_weights(again.model, loaded.model)


def test_a_tiny_model_records_its_fingerprint(summarizer, translator_de):
    from briefs.tasks.models.tiny import fingerprint

    assert summarizer.revision == fingerprint() == translator_de.revision


RELEASE_SCRIPT = """
import gc, json, weakref
from briefs.tasks.models.loading import models_loaded, release_unused_models
from tests.helpers import TRANSFORMERS, tiny_model

summarizer, translator = tiny_model("summarizer", TRANSFORMERS), tiny_model("de", TRANSFORMERS)
first = release_unused_models()  # after a run that used both
tiny_model("summarizer", TRANSFORMERS)  # the next run uses the summarizer only
freed = weakref.ref(translator.model)
translator = None
second = release_unused_models()
gc.collect()
before = models_loaded()
kept = tiny_model("summarizer", TRANSFORMERS) is summarizer
tiny_model("de", TRANSFORMERS)
print(json.dumps({"first": first, "second": second, "freed": freed() is None, "kept": kept,
                  "loaded_again": models_loaded() - before}))
"""


def test_a_long_lived_process_keeps_only_the_models_its_last_run_used():
    """What a warm worker does between shard runs, in a process of its own (releasing in
    this one would drop the other tests' models): the models a run used stay loaded; one it
    did not use is released, freed, and loaded again when asked for."""
    import subprocess
    import sys

    from tests.helpers import REPO

    done = subprocess.run([sys.executable, "-c", RELEASE_SCRIPT], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first"] == []
    assert len(seen["second"]) == 1 and "marian-en-de" in seen["second"][0], seen
    assert seen["freed"] and seen["kept"] and seen["loaded_again"] == 1, seen
