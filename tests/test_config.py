"""Configuration: presets, validation that names the key, env and flag overrides, hashing."""

from __future__ import annotations

import pytest

from briefs.tasks.core.config import ConfigError, load_config


def test_presets_load_and_fill_the_language_into_translator_ids():
    default = load_config("default")
    assert default.models.summarizer.id == "sshleifer/distilbart-cnn-12-6"
    assert default.models.translator("fr").id == "Helsinki-NLP/opus-mt-en-fr"
    assert load_config("tiny").models.translator("de").id.endswith("random-weights")


def test_per_language_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("languages: [de, fr]\nmodels:\n  summarizer: {id: s}\n  translators:\n"
                    "    default: {id: 'hub/en-{lang}'}\n    de: {id: /models/my-en-de}\n")
    config = load_config(config_file=path)
    assert config.models.translator("de").id == "/models/my-en-de"
    assert config.models.translator("fr").id == "hub/en-fr"


@pytest.mark.parametrize(("yaml_text", "named"), [
    ("languages: [de]\nmodels: {summarizer: {id: s}, translators: {default: {id: t}}}\n"
     "batching: {max_tokenz: 10}\n", "batching.max_tokenz"),
    ("languages: [de]\nmodels: {summarizer: {id: s}, translators: {default: {id: t}}}\n"
     "generation: {summary: {num_beams: 0}}\n", "generation.summary.num_beams"),
    ("languages: [German]\nmodels: {summarizer: {id: s}, translators: {default: {id: t}}}\n",
     "languages"),
    ("languages: [de]\nmodels: {summarizer: {id: s}, translators: {de: {id: t}}}\n",
     "models.translators"),
])
def test_bad_values_are_errors_that_name_the_key(tmp_path, yaml_text, named):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(config_file=path)


def test_environment_beats_the_file_and_flags_beat_the_environment(monkeypatch):
    monkeypatch.setenv("BRIEFS_BATCHING__MAX_TOKENS", "1234")
    monkeypatch.setenv("BRIEFS_LANGUAGES", "ro,es")
    config = load_config("tiny")
    assert config.batching.max_tokens == 1234 and config.languages == ["ro", "es"]
    assert load_config("tiny", languages=["fr"]).languages == ["fr"]


def test_config_hash_follows_the_effective_configuration():
    assert load_config("tiny").config_hash() == load_config("tiny").config_hash()
    assert load_config("tiny").config_hash() != load_config("tiny", languages=["de"]).config_hash()


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown model preset 'huge'"):
        load_config("huge")


def test_the_batch_budget_is_larger_on_cuda_unless_set():
    from briefs.tasks.core.config import BatchingConfig

    assert BatchingConfig().budget_for("cpu").tokens == 8192
    assert BatchingConfig().budget_for("cuda:0").tokens == 32768
    assert BatchingConfig(max_tokens=4096).budget_for("cuda").tokens == 4096
    assert BatchingConfig().budget_for("cpu").sequences == 56
    assert BatchingConfig(max_sequences=8).budget_for("cuda").sequences == 8
