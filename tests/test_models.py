"""Model loading: real `from_pretrained`, once per process, safetensors only, clear failures."""

from __future__ import annotations

import json

import pytest

from tasks.config import ModelRef
from tasks.models import ModelUnavailable, load_model


def test_tiny_models_load_through_from_pretrained(summarizer, translator_de):
    assert type(summarizer.model).__name__ == "BartForConditionalGeneration"
    assert type(translator_de.model).__name__ == "MarianMTModel"
    assert summarizer.random_weights and "random-weights" in summarizer.model_id
    assert summarizer.max_input_tokens == 256 and summarizer.revision


def test_each_model_is_loaded_once_per_process(tiny_config, summarizer):
    again = load_model(tiny_config.models.summarizer)
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
    loaded = load_model(ModelRef(id=str(tmp_path)))
    assert type(loaded.model).__name__ == "BartForConditionalGeneration"


def test_pickled_weights_are_refused(summarizer, tmp_path):
    import torch

    summarizer.model.config.save_pretrained(tmp_path)
    summarizer.tokenizer.save_pretrained(tmp_path)
    torch.save(summarizer.model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle
    with pytest.raises(ModelUnavailable, match="safetensors"):
        load_model(ModelRef(id=str(tmp_path)))


def test_remote_code_is_never_run(summarizer, tmp_path):
    summarizer.model.save_pretrained(tmp_path)
    summarizer.tokenizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSeq2SeqLM": "evil.EvilModel"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "remote-code-ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    try:
        loaded = load_model(ModelRef(id=str(tmp_path)))
        assert type(loaded.model).__name__ == "BartForConditionalGeneration"  # the built-in class
    except ModelUnavailable:
        pass
    assert not marker.exists()
