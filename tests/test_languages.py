"""Every language in, every language out: routes for non-English sources, target tokens that
reach `generate`, language-aware chunking, the glossary around a real model.

All on tiny random-weight models: the output is gibberish, so these tests check where text
goes and what is recorded, never what a translation says.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from briefs.tasks.core.config import BriefsConfig, CallBudget, load_config
from briefs.tasks.core.records import Article, Brief, Failure, Source
from briefs.tasks.generation.step_models import StepModel, translator_step
from briefs.tasks.generation.targets import (
    SUPPORTED_LANGUAGES,
    TARGETS,
    NoTargetToken,
    target_tokens,
)
from briefs.tasks.generation.translate import translate_texts
from briefs.tasks.ingest.articles import RawObject, parse_object
from briefs.tasks.ingest.source_language import describe
from briefs.tasks.ingest.text import pack_chunks, split_sentences
from briefs.tasks.models.loading import load_model
from briefs.tasks.output.documents import brief_document
from briefs.tasks.output.storage import open_store
from briefs.tasks.run.pipeline import (
    load_all_models,
    model_versions,
    plan_reuse,
    summarize_articles,
    translate_briefs,
    write_briefs,
)
from tests.helpers import CTRANSLATE2, TRANSFORMERS, corpus_or_skip

NONENGLISH = "nonenglish/newspaper-tests-nonenglish/html"
# The corpus pages and the language each is written in.
PAGE_LANGUAGES = {"arabic_article": "ar", "chinese_article": "zh", "french_article": "fr",
                  "huffingtonpost.de1": "de", "huffingtonpost.de2": "de",
                  "japanese_article": "ja", "japanese_article2": "ja", "latvian_article": "lv",
                  "spanish_article": "es", "thai_article": "th", "vogue.de1": "de",
                  "vogue.de2": "de"}
MULTI_TARGET = "briefs-tiny/marian-en-mul-random-weights"
NLLB = "briefs-tiny/nllb-random-weights"
GREEDY = {"num_beams": 1, "max_new_tokens": 6}


def config_with(**changes: Any) -> BriefsConfig:
    """The tiny preset, its top-level keys replaced."""
    tiny = load_config("tiny")
    return BriefsConfig(**{**tiny.model_dump(exclude={"languages"}),
                           "languages": tiny.languages, **changes})


def article(key: str, text: str, title: str = "") -> Article:
    item = Article(key, Source(f"file:///{key}", key, "txt", "sha"), title, text)
    describe(item, 0.5)
    return item


def brief_all(articles: list[Article], config: BriefsConfig) -> dict[str, Brief | Failure]:
    summarized = summarize_articles(articles, config)
    briefs = translate_briefs([b for b in summarized if isinstance(b, Brief)], config)
    return {r.article_id: r for r in [*briefs, *(f for f in summarized
                                                 if isinstance(f, Failure))]}


# Routes ----------------------------------------------------------------------------------------

def test_non_english_corpus_pages_are_briefed_through_the_pivot_with_their_route():
    pages = sorted((corpus_or_skip() / NONENGLISH).glob("*.html"))
    assert {p.stem for p in pages} == set(PAGE_LANGUAGES)
    articles = []
    for page in pages:
        [item] = parse_object(RawObject(page.name, page.as_uri(), page.read_bytes()),
                              load_config("tiny").limits)
        assert isinstance(item, Article), (page.name, item)
        describe(item, 0.5)
        articles.append(item)
    results = brief_all(articles, config_with(languages=["de"]))

    for item in articles:
        lang = PAGE_LANGUAGES[item.source.key.removesuffix(".html")]
        brief = results[item.article_id]
        assert isinstance(brief, Brief), (item.source.key, brief)
        assert item.language == lang, item.source.key
        assert brief.route["name"] == "pivot" and brief.route["source_language"] == lang
        assert brief.models[f"pivot_{lang}"]["id"] == f"briefs-tiny/marian-{lang}-en-random-weights"
        assert brief.route["models"] == brief.models
        assert brief.titles[lang] == item.title  # the original title is kept
        assert brief.summaries["en"] and brief.summaries["de"]
        assert f"pivot_{lang}" in brief.generation and f"pivot_{lang}" in brief.timings_ms


def test_plain_text_and_json_articles_go_by_their_route_or_fail_naming_the_language():
    czech = ("Vláda ve středu schválila nový rozpočet na příští rok. Opozice návrh ostře "
             "kritizovala, ministr financí však uvedl, že schodek se sníží.")
    portuguese = ("O governo aprovou nesta quarta-feira um novo orçamento para o próximo ano. "
                  "A oposição criticou duramente a proposta do ministro das Finanças.")
    config = config_with(languages=["de"], sources={"routes": {
        "cs": {"translator": {"id": "briefs-tiny/marian-cs-en-random-weights"}}}})
    text_item = article("czech", czech)
    [json_item] = parse_object(RawObject("pt.json", "file:///pt.json", json.dumps(
        {"title": "Orçamento aprovado", "body": portuguese}).encode()), config.limits)
    describe(json_item, 0.5)

    results = brief_all([text_item, json_item], config)

    assert results[text_item.article_id].route["name"] == "pivot"
    failure = results[json_item.article_id]
    assert isinstance(failure, Failure)
    assert "source language 'pt' has no route: add sources.routes.pt" in failure.reason


SPANISH = ("El Gobierno aprobó el martes un nuevo plan de vivienda para las grandes "
           "ciudades. La oposición criticó la medida y pidió más ayudas para los jóvenes. "
           "El ministro dijo que los precios bajarán el próximo año.")


def test_a_multilingual_summarizer_summarizes_in_the_source_language_and_both_are_kept():
    config = config_with(languages=["de", "es"], sources={"routes": {"es": {
        "route": "summarize", "summarizer": {"id": "briefs-tiny/bart-random-weights"},
        "translator": {"id": "briefs-tiny/marian-es-en-random-weights"}}}})
    item = article("spanish", SPANISH, "Plan de vivienda")

    brief = brief_all([item], config)[item.article_id]

    assert isinstance(brief, Brief), brief
    assert brief.route["name"] == "summarize"
    assert set(brief.models) == {"summarizer_es", "pivot_es"}
    assert brief.summaries["es"] and brief.summaries["en"] and brief.summaries["de"]
    assert brief.summary == brief.summaries["en"] != brief.summaries["es"]
    assert brief.titles["es"] == "Plan de vivienda"
    assert "translation_es" not in brief.generation  # its own summary, not a translation


def test_a_route_whose_model_cannot_be_loaded_fails_its_articles_naming_the_key(tmp_path):
    config = config_with(languages=["de"], sources={"routes": {"default": {
        "translator": {"id": str(tmp_path / "no-such-model")}}}})
    item = article("german", "Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen. "
                   "Die Opposition kritisierte den Entwurf scharf.")

    failure = brief_all([item], config)[item.article_id]

    assert isinstance(failure, Failure)
    assert "source language 'de': the pivot route (sources.routes.default)" in failure.reason
    assert "no-such-model" in failure.reason


GERMAN = ("Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen. Die Opposition "
          "kritisierte den Entwurf scharf.")


def written_night(tmp_path: Path, config: BriefsConfig, item: Article):
    """The article briefed and written; the store, the keys a re-run finds, the brief."""
    store = open_store(str(tmp_path))
    [brief] = brief_all([item], config).values()
    assert isinstance(brief, Brief), brief
    run_models = model_versions(load_all_models(config))
    [document] = write_briefs(store, [brief], config, run_models, "run-1", set())
    return store, {f"briefs/{item.article_id}.json"}, document


def test_an_unchanged_pivot_article_is_reused_whole(tmp_path):
    config = config_with(languages=["de"])
    item = article("german", GERMAN, "Neues Gesetz")
    store, existing, document = written_night(tmp_path, config, item)

    plan = plan_reuse(store, [item], config, existing)

    assert plan.unchanged == [document]
    assert document["route"]["name"] == "pivot" and "pivot_de" in document["models"]


@pytest.mark.parametrize("change", ["route model", "pivot glossary", "title"])
def test_a_pivot_article_is_briefed_again_when_its_route_or_title_changes(tmp_path, change):
    config = config_with(languages=["de"])
    item = article("german", GERMAN, "Neues Gesetz")
    store, existing, _ = written_night(tmp_path, config, item)
    if change == "route model":  # another translator for German, nothing else changed
        config = config_with(languages=["de"], sources={"routes": {"de": {
            "translator": {"id": "briefs-tiny/marian-nl-en-random-weights"}}}})
    elif change == "pivot glossary":
        config = config_with(languages=["de"], glossary={"keep": ["Bundestag"]})
    else:
        item = article("german", GERMAN, "Ganz anderer Titel")

    plan = plan_reuse(store, [item], config, existing)

    assert plan.to_summarize == [item] and not plan.unchanged and not plan.partial


def test_a_summarize_route_brief_is_reused_with_its_source_summary(tmp_path):
    config = config_with(languages=["de"], sources={"routes": {"es": {
        "route": "summarize", "summarizer": {"id": "briefs-tiny/bart-random-weights"},
        "translator": {"id": "briefs-tiny/marian-es-en-random-weights"}}}})
    item = article("spanish", SPANISH, "Plan de vivienda")
    store, existing, document = written_night(tmp_path, config, item)
    # every model that made it, and not the English summarizer, which made nothing
    assert set(document["models"]) == {"summarizer_es", "pivot_es", "translator_de"}

    wider = config_with(languages=["de", "fr"], sources=config.sources.model_dump())
    [partial] = plan_reuse(store, [item], wider, existing).partial

    assert partial.summaries == {k: document["summaries"][k] for k in ("es", "en", "de")}
    assert partial.route["name"] == "summarize"


def test_an_unsure_language_detection_is_a_warning_and_a_declared_language_wins_then():
    item = article("names", "Paris Berlin Madrid")
    assert item.language_confidence < 0.5
    [unsure] = [n for n in item.warnings if n.code == "language_unsure"]
    assert unsure.detail.startswith("the language detector is unsure"), item.warnings

    declared = Article("names", Source("file:///n", "n", "json", "sha"), "", "Paris Berlin Madrid",
                       declared_language="spa")
    describe(declared, 0.5)
    assert declared.language == "es"
    assert declared.warnings[0].detail.endswith("using the declared language 'es'")

    sure = Article("german", Source("file:///g", "g", "json", "sha"), "", GERMAN,
                   declared_language="en-GB")
    describe(sure, 0.5)
    assert sure.language == "de"
    assert [n.as_dict() for n in sure.warnings] == [
        {"code": "language_mismatch",
         "detail": "declared language 'en-GB' but the text reads as 'de'; using it"},
        {"code": "no_title", "detail": "the source has no title; its first sentence is used"}]


# Target tokens ----------------------------------------------------------------------------------

class Recorder:
    """Wraps a real engine call and keeps what went into it and what came out."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:  # transformers' model
        output = self.real.generate(*args, **kwargs)
        self.calls.append((kwargs, output))
        return output

    def translate_batch(self, sources: Any, **kwargs: Any) -> Any:  # CTranslate2's Translator
        results = self.real.translate_batch(sources, **kwargs)
        self.calls.append(({"sources": sources, **kwargs}, results))
        return results


def recorded_translation(model_id: str, engine: dict[str, str], lang: str,
                         monkeypatch: pytest.MonkeyPatch) -> tuple[StepModel, Any, Any]:
    """Translate one text into `lang` with a tiny model; return the step (its model and
    settings), what `generate` received and what it returned."""
    config = config_with(languages=[lang], runtime=engine,
                         models={"summarizer": {"id": "briefs-tiny/bart-random-weights"},
                                 "translators": {"default": {"id": model_id}}})
    step = translator_step(config.models.translator(lang), lang, config, "models.translators")
    engine_object = step.loaded.engine
    attribute = "model" if engine["engine"] == "transformers" else "translator"
    recorder = Recorder(getattr(engine_object, attribute))
    monkeypatch.setattr(engine_object, attribute, recorder)
    [result] = translate_texts(step.loaded, ["The council approved the budget."],
                               {**step.settings, **GREEDY}, CallBudget(4096), "en", lang)
    assert not isinstance(result, Exception), result
    [(received, returned)] = recorder.calls
    return step, received, returned


@pytest.mark.parametrize("engine", [TRANSFORMERS, CTRANSLATE2], ids=["transformers", "ct2"])
@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_a_multi_target_opus_model_reads_the_languages_token_first(lang, engine, monkeypatch):
    step, received, _ = recorded_translation(MULTI_TARGET, engine, lang, monkeypatch)
    token = TARGETS[lang].opus_tokens[0]
    assert step.settings["input_prefix"] == token and "forced_bos_token" not in step.settings
    if engine is TRANSFORMERS:
        vocab = step.loaded.tokenizer.get_vocab()
        assert received["input_ids"][:, 0].tolist() == [vocab[token]]
    else:
        assert [source[0] for source in received["sources"]] == [token]
    if lang == "zh":
        assert token == ">>cmn_Hans<<"  # what Helsinki-NLP/opus-mt-en-zh needs


@pytest.mark.parametrize("engine", [TRANSFORMERS, CTRANSLATE2], ids=["transformers", "ct2"])
@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_nllb_generates_the_languages_code_as_its_first_token(lang, engine, monkeypatch):
    step, received, returned = recorded_translation(NLLB, engine, lang, monkeypatch)
    code = TARGETS[lang].nllb
    assert step.settings["forced_bos_token"] == code and "input_prefix" not in step.settings
    tokenizer = step.loaded.tokenizer
    if engine is TRANSFORMERS:
        assert received["forced_bos_token_id"] == tokenizer.convert_tokens_to_ids(code)
        # generate's output: the decoder start token, then the forced language code
        assert tokenizer.convert_ids_to_tokens(returned[:, 1].tolist()) == [code]
    else:
        assert received["target_prefix"] == [[code]]
        assert [r.hypotheses[0][0] for r in [p.result() for p in returned]] == [code]


def test_the_nllb_codes_are_those_of_the_real_nllb_tokenizer():
    folder = corpus_or_skip() / "tokenizers" / "nllb-200-distilled-600M"
    codes = json.loads((folder / "special_tokens_map.json").read_text())[
        "additional_special_tokens"]
    assert {t.nllb for t in TARGETS.values()} | {"eng_Latn"} <= set(codes)


def test_older_multi_target_models_get_their_two_letter_token():
    romance = {"▁la": 5, ">>fr<<": 1, ">>es<<": 2, ">>it<<": 3, ">>pt<<": 4}  # opus-mt-en-ROMANCE
    assert target_tokens("fr", romance, "opus-mt-en-ROMANCE", "k").input_prefix == ">>fr<<"
    assert target_tokens("zh", {">>zho_Hans<<": 1}, "m", "k").input_prefix == ">>zho_Hans<<"


def test_single_target_models_need_no_token_and_unknown_tokens_are_refused():
    vocab = {"▁the": 1, "</s>": 0}
    assert target_tokens("de", vocab, "opus-mt-en-de", "models.translators.de").as_settings() == {}
    m2m100 = {**vocab, "__de__": 3, "__zh__": 4}
    assert target_tokens("zh", m2m100, "m2m100_418M", "models.translators.zh").as_settings() == {
        "forced_bos_token": "__zh__"}
    multi = {**vocab, ">>fra<<": 2}
    with pytest.raises(NoTargetToken, match=r"set models.translators.de.input_prefix"):
        target_tokens("de", multi, "opus-mt-en-mul", "models.translators.de")
    with pytest.raises(NoTargetToken, match=r"'>>deu<<' is not in its vocabulary"):
        target_tokens("de", vocab, "opus-mt-en-de", "models.translators.de",
                      input_prefix=">>deu<<")


# Sentences and chunks ----------------------------------------------------------------------------

def test_chinese_and_japanese_split_at_their_own_full_stops():
    assert split_sentences("北京时间3月5日，总理发表讲话。他说：“经济将继续增长！”还有问题吗？",
                           "zh") == ["北京时间3月5日，总理发表讲话。", "他说：“经济将继续增长！”",
                                     "还有问题吗？"]
    assert split_sentences("東京で地震がありました。けが人はいません！", "ja") == [
        "東京で地震がありました。", "けが人はいません！"]


def test_a_long_chinese_article_is_chunked_within_the_window_and_nothing_is_lost():
    page = corpus_or_skip() / NONENGLISH / "chinese_article.html"
    [item] = parse_object(RawObject(page.name, page.as_uri(), page.read_bytes()),
                          load_config("tiny").limits)
    translator = load_model(load_config("tiny").models.translator("de"))  # byte-level CJK
    text = item.text * 3
    budget = 60
    chunks = pack_chunks(split_sentences(text, "zh"), translator.count_tokens, budget, "zh")
    assert len(chunks) > 3
    assert all(n <= budget for n in translator.count_tokens(chunks))
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_a_long_chinese_article_is_translated_in_chunks_that_fit_the_window(monkeypatch):
    page = corpus_or_skip() / NONENGLISH / "chinese_article.html"
    [item] = parse_object(RawObject(page.name, page.as_uri(), page.read_bytes()),
                          load_config("tiny").limits)
    route = load_config("tiny").sources.route("zh")
    translator = load_model(route.translator)
    recorder = Recorder(translator.engine.translator)
    monkeypatch.setattr(translator.engine, "translator", recorder)

    [result] = translate_texts(translator, [item.text], GREEDY, CallBudget(4096), "zh", "en")

    inputs = [source for received, _ in recorder.calls for source in received["sources"]]
    assert len(inputs) > 3 and all(len(tokens) <= translator.max_input_tokens
                                   for tokens in inputs)
    def squeezed(text: str) -> str:  # as the tokenizer reads it (NFKC: （ → (), no spaces
        return "".join(unicodedata.normalize("NFKC", text).split())

    chunks = [squeezed(translator.tokenizer.convert_tokens_to_string(t).replace("</s>", ""))
              for t in inputs]  # sent longest first, not in the text's order
    whole = squeezed(item.text)
    assert all(chunk in whole for chunk in chunks)  # each a piece of the text, uncut
    assert sum(map(len, chunks)) == len(whole)  # and together all of it
    assert result.text


def test_nllb_as_a_pivot_is_refused_naming_what_to_use():
    config = config_with(languages=["de"], sources={"routes": {"default": {
        "translator": {"id": NLLB}}}})
    failure = brief_all([article("german", GERMAN)], config)["german"]
    assert isinstance(failure, Failure)
    assert "reads its source language from a token (NLLB, M2M100)" in failure.reason
    assert "Helsinki-NLP/opus-mt-de-en" in failure.reason


# Glossary ----------------------------------------------------------------------------------------

def test_glossary_terms_come_back_from_a_real_generate_that_copies_the_placeholders(
        monkeypatch):
    """A real model call whose output starts with the masked input (forced as the target
    prefix, as a trained model copies placeholders): every term comes back in place."""
    config = config_with(languages=["de"], glossary={"keep": ["KCNA", "Kim", "Kim Jong-un"]})
    step = translator_step(config.models.translator("de"), "de", config, "models.translators")
    real = step.loaded.engine.translator

    class CopyingTranslator(Recorder):
        def translate_batch(self, sources: Any, **kwargs: Any) -> Any:
            kwargs["target_prefix"] = [list(s[:-1]) for s in sources]  # the input, no </s>
            return super().translate_batch(sources, **kwargs)

    recorder = CopyingTranslator(real)
    monkeypatch.setattr(step.loaded.engine, "translator", recorder)
    text = "KCNA said Kim Jong-un met Kim and KCNA"  # start, end, repeated, overlapping

    [result] = translate_texts(step.loaded, [text], {**step.settings, "num_beams": 1,
                                                    "max_new_tokens": 80}, CallBudget(4096),
                               "en", "de", step.glossary)

    seen = step.loaded.tokenizer.convert_tokens_to_string(recorder.calls[0][0]["sources"][0])
    assert seen == "ZQ1Z said ZQ2Z met ZQ3Z and ZQ4Z</s>"
    assert result.text.startswith(text) and result.lost_terms == []


def test_glossary_terms_are_masked_before_generate_and_lost_ones_are_warnings(monkeypatch):
    config = config_with(languages=["de"], glossary={"keep": ["KCNA", "Kim Jong-un"]})
    step = translator_step(config.models.translator("de"), "de", config, "models.translators")
    recorder = Recorder(step.loaded.engine.translator)
    monkeypatch.setattr(step.loaded.engine, "translator", recorder)
    text = "KCNA said Kim Jong-un met KCNA staff"

    [result] = translate_texts(step.loaded, [text], {**step.settings, **GREEDY}, CallBudget(4096),
                               "en", "de", step.glossary)

    [(received, _)] = recorder.calls
    seen = step.loaded.tokenizer.convert_tokens_to_string(received["sources"][0])
    assert seen == "ZQ1Z said ZQ2Z met ZQ3Z staff</s>"  # both KCNAs and the name
    lost = set(result.lost_terms)
    assert lost == {t for t in ("KCNA", "Kim Jong-un") if t not in result.text}


def test_a_glossary_term_lost_in_translation_is_a_warning_that_a_reused_brief_keeps(tmp_path):
    config = config_with(languages=["de"], glossary={"keep": ["KCNA"]})
    item = article("english", "KCNA said on Tuesday that the country would test a new "
                   "rocket. KCNA gave no date for the launch.", "KCNA reports a rocket test")
    store, existing, document = written_night(tmp_path, config, item)

    # Random weights never copy the title's placeholder through: the term is lost.
    assert "KCNA" not in document["title"]["de"]
    warning = {"code": "glossary_lost",
               "detail": "'KCNA' did not come through the translation into 'de'"}
    assert warning in document["steps"]["translations"]["de"]["warnings"]  # kept with its step
    assert warning in document["warnings"]

    wider = config_with(languages=["de", "fr"], glossary={"keep": ["KCNA"]})
    [partial] = plan_reuse(store, [item], wider, existing).partial
    assert "de" in partial.steps["translations"]  # the translation into German is reused
    assert warning in brief_document(partial, wider, {}, "run-2")["warnings"]


def test_briefs_extract_prints_what_the_pipeline_sees(tmp_path):
    from typer.testing import CliRunner

    from briefs.flows.cli import app

    page = corpus_or_skip() / NONENGLISH / "latvian_article.html"
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"title": "One", "body": "Short.", "url": "https://e.x/1"}) + "\n"
                    + json.dumps({"title": "Two", "body": " ".join(["word"] * 20),
                                  "url": "https://e.x/2", "published": "2026-11-27"}) + "\n")

    result = CliRunner().invoke(app, ["extract", str(page), str(feed)])

    lines = [json.loads(line) for line in result.output.splitlines()]
    assert result.exit_code == 2  # one feed line is too short
    page_record, short, long = lines
    assert page_record["path"] == str(page) and page_record["language"] == "lv"
    assert page_record["title"] == "Norvēģijā pēc zemes nogruvuma pieci bojāgājušie"
    assert page_record["text"].startswith("Naktī uz trešdienu")
    assert "only 1 words" in short["error"]
    assert (long["title"], long["url"], long["published"]) == (
        "Two", "https://e.x/2", "2026-11-27")
    assert set(long) >= {"path", "title", "text", "language", "url", "published"}


def test_the_tiny_preset_routes_every_language_to_a_tiny_translator():
    route = load_config("tiny").sources.route("lv")
    assert route is not None and route.translator.id == "briefs-tiny/marian-lv-en-random-weights"
    assert Path(load_model(route.translator).tokenizer.name_or_path).is_dir()


# Guards on every output ---------------------------------------------------------------------------

def test_every_output_of_a_routed_brief_is_guarded_and_counted_in_the_manifest():
    """The tiny models' gibberish trips the guards; which codes is theirs to say, but every
    step's output (the pivot, the summary, the translation) is checked and counted."""
    from briefs.tasks.output.documents import manifest_document

    config = config_with(languages=["de"])
    [brief] = brief_all([article("german", GERMAN, "Neues Gesetz")], config).values()
    document = brief_document(brief, config, {}, "run-1")

    summary_step = document["steps"]["summary"]["warnings"]
    translation_step = document["steps"]["translations"]["de"]["warnings"]
    assert any(w["detail"].startswith("pivot 'en': ") for w in summary_step), summary_step
    assert any(w["detail"].startswith("summary 'en': ") for w in summary_step), summary_step
    assert all(w["detail"].startswith("translation 'de': ") for w in translation_step)
    assert translation_step
    manifest = manifest_document("run-1", "now", {}, [document], [], {})
    codes = [w["code"] for w in document["warnings"]]
    assert manifest["warnings"] == {code: codes.count(code) for code in set(codes)}
    assert manifest["articles"][0]["warnings"] == sorted(set(codes))


def test_guards_fail_on_fails_the_article_also_when_its_brief_is_reused(tmp_path):
    config = config_with(languages=["de"])
    item = article("english", "The parliament passed a new law on Thursday after a long "
                   "debate about the costs.", "New law")
    store, existing, _ = written_night(tmp_path, config, item)
    strict = config_with(languages=["de"], guards={"fail_on": ["random_weights"]})

    plan = plan_reuse(store, [item], strict, existing)
    assert not plan.unchanged  # not taken over whole: it goes on, to fail
    [failure] = translate_briefs(plan.partial, strict)

    assert isinstance(failure, Failure)
    assert failure.reason.startswith("guard random_weights: briefs-tiny/")
    with pytest.raises(ValueError, match="unknown warning codes"):
        config_with(guards={"fail_on": ["no_such_code"]})
