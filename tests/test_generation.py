"""Real `generate` calls on the tiny models: batching, ordering, chunking, no truncation.

The tiny models have random weights: these tests check mechanics, never quality.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

from briefs.tasks.core.config import CallBudget
from briefs.tasks.generation.batching import generate_texts, plan_batches
from briefs.tasks.generation.summarize import Summary, chunk_text, summarize_texts
from briefs.tasks.generation.translate import translate_texts
from briefs.tasks.ingest.text import pack_chunks, split_sentences
from briefs.tasks.models import ct2
from tests.corpus_sample import summaries
from tests.helpers import CTRANSLATE2, SEEDS, corpus_or_skip, tiny_model

GREEDY = {"num_beams": 1, "max_new_tokens": 12, "min_new_tokens": 4}


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    rows = summaries(corpus_or_skip(), 8)
    return [s for row in rows for s in split_sentences(row["article"])[:3]]


def test_plan_batches_respects_the_budget_and_covers_every_input():
    lengths = [5, 300, 17, 120, 120, 64, 1, 250]
    batches = plan_batches(lengths, max_tokens=400)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert max(lengths[i] for i in batch) * len(batch) <= 400 or len(batch) == 1


def test_plan_batches_bounds_the_inputs_per_call_and_spreads_them_over_the_workers():
    lengths = [40, 38, 35, 30, 22, 20, 9, 5, 3]
    assert [len(b) for b in plan_batches(lengths, 10_000, max_inputs=4)] == [4, 4, 1]
    # 4 + 4 + 1 on two workers: the busiest runs 5 inputs; 3 + 3 + 3 would be 6: kept.
    assert [len(b) for b in plan_batches(lengths, 10_000, 4, workers=2)] == [4, 4, 1]
    # 7 + 2 on two workers: one would run 7 while the other idles; 5 + 4 instead.
    assert [len(b) for b in plan_batches(lengths, 10_000, 7, workers=2)] == [5, 4]
    assert [len(b) for b in plan_batches(lengths, 10_000, workers=4)] == [3, 3, 3]
    for workers in (1, 2, 3):
        batches = plan_batches(lengths, 100, 4, workers=workers)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        assert all(lengths[b[0]] * len(b) <= 100 or len(b) == 1 for b in batches)
    assert plan_batches([12], max_tokens=100, workers=4) == [[0]]


def test_batches_run_at_once_on_the_engine_workers_with_unchanged_outputs(sentences,
                                                                         monkeypatch):
    """CTranslate2 on CPU runs a batch per worker (inter_threads), a call holding at most
    `sequences` inputs × beams; the outputs are those of the same batches one at a time."""
    translator = tiny_model("de", CTRANSLATE2)
    workers = translator.engine.parallel_calls
    assert translator.engine.translator.num_translators == workers
    assert workers == ct2.cpu_workers()[0]
    if workers == 1 and not os.environ.get("CI"):  # CI machines have 2 cores
        pytest.skip("one core: nothing runs at once here")
    settings = {"num_beams": 2, "max_new_tokens": 12, "min_new_tokens": 4}
    budget = CallBudget(4096, sequences=8)
    generate = translator.engine.generate
    together = threading.Barrier(workers, timeout=30)  # breaks unless `workers` calls meet
    calls: list[list[str]] = []

    def counted(texts, call_settings):
        calls.append(texts)
        if len(calls) <= workers:
            together.wait()
        return generate(texts, call_settings)

    monkeypatch.setattr(translator.engine, "generate", counted)
    at_once = generate_texts(translator, sentences, settings, budget)
    assert max(map(len, calls)) * settings["num_beams"] <= 8
    assert sorted(t for call in calls for t in call) == sorted(sentences)
    one_at_a_time = [out for call in calls for out in generate(call, settings)]
    by_text = dict(zip([t for call in calls for t in call], one_at_a_time, strict=True))
    assert at_once == [by_text[text] for text in sentences]
    assert len(set(at_once)) > 1


def test_a_timeout_stops_the_batches_not_yet_started(sentences, monkeypatch):
    """A task timeout lands in the thread waiting on the batches: the batches not started
    are dropped, not run to the end first."""
    from prefect.utilities.timeout import timeout

    translator = tiny_model("de", CTRANSLATE2)
    generate, started = translator.engine.generate, []

    def slow(texts, call_settings):
        started.append(texts)
        time.sleep(0.3)
        return generate(texts, call_settings)

    monkeypatch.setattr(translator.engine, "generate", slow)
    clock = time.monotonic()
    with pytest.raises(TimeoutError), timeout(seconds=0.5):
        generate_texts(translator, sentences, GREEDY, CallBudget(4096, sequences=1))
    assert time.monotonic() - clock < 0.3 * len(sentences) / 4
    time.sleep(0.6)  # the calls running at the timeout end; none starts after them
    assert len(started) < len(sentences) / 2


def test_batched_and_one_by_one_greedy_outputs_are_identical(summarizer, sentences):
    batched = generate_texts(summarizer, sentences, GREEDY, CallBudget(2048))
    single = [generate_texts(summarizer, [s], GREEDY, CallBudget(2048))[0] for s in sentences]
    assert all(isinstance(out, str) and out for out in batched)
    assert batched == single
    assert len(set(batched)) > 1  # outputs depend on the input, so order mistakes would show


def test_results_come_back_in_input_order(translator_de, sentences):
    forward = generate_texts(translator_de, sentences, GREEDY, CallBudget(1024))
    backward = generate_texts(translator_de, sentences[::-1], GREEDY, CallBudget(1024))
    assert forward == backward[::-1]


def test_an_input_over_the_window_is_refused_not_truncated(summarizer):
    too_long = "word " * (summarizer.max_input_tokens * 2)
    [result] = generate_texts(summarizer, [too_long], GREEDY, CallBudget(100_000))
    assert isinstance(result, ValueError) and "exceed" in str(result)


def test_chunks_fit_the_window_and_keep_every_word(summarizer):
    text = next(SEEDS.glob("*.txt")).read_text()
    chunks = chunk_text(summarizer, text)
    assert len(chunks) > 1
    assert max(summarizer.count_tokens(chunks)) <= summarizer.max_input_tokens
    assert Counter(" ".join(chunks).split()) == Counter(text.split())


def test_an_overlong_sentence_is_split_at_words_not_dropped(summarizer):
    sentence = " ".join(f"word{i}" for i in range(400)) + "."
    chunks = pack_chunks([sentence], summarizer.count_tokens, 64)
    assert len(chunks) > 1 and max(summarizer.count_tokens(chunks)) <= 64
    assert " ".join(chunks).split() == sentence.split()


def test_a_long_article_is_summarized_in_chunks(summarizer):
    seed = next(SEEDS.glob("*.txt")).read_text()
    short = "The council approved the budget on Monday. Schools get more money."
    results = summarize_texts(summarizer, [seed, short], GREEDY, CallBudget(4096))
    long_summary, short_summary = results
    assert long_summary.chunks > 1 and long_summary.rounds >= 2 and long_summary.text
    assert short_summary.chunks == 1 and short_summary.rounds == 1 and short_summary.text


def test_translation_as_one_unit_or_by_sentences(translator_de):
    short = "The council approved the budget on Monday."
    long = " ".join([short] * 80)  # well over the tiny model's 256-token window
    one, split, empty = translate_texts(translator_de, [short, long, ""], GREEDY, CallBudget(4096))
    assert one.text and empty.text == ""
    assert len(split.text.split()) > len(one.text.split())


def test_sentences_split_in_two_threads_at_once_are_all_kept():
    """The flow reads (and splits titles) in one thread while it chunks in another."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [row["article"] for row in summaries(corpus_or_skip(), 6)]
    expected = [split_sentences(text) for text in texts]
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(split_sentences, texts * 50))
    assert got == expected * 50


def test_chunk_summaries_that_cannot_be_chunked_fail_their_article_alone():
    """Long gibberish summaries of chunks can hold a 'word' longer than the window."""
    from tests.helpers import CTRANSLATE2, tiny_model

    summarizer = tiny_model("summarizer", CTRANSLATE2)
    [row] = summaries(corpus_or_skip(), 1)
    short = "The council approved the budget on Monday. Schools get more money."
    endless = summarizer.effective_settings(
        {"num_beams": 16, "min_new_tokens": 250, "max_new_tokens": 250})
    long_result, short_result = summarize_texts(summarizer, [row["article"], short], endless,
                                                CallBudget(4096))
    assert isinstance(long_result, ValueError) and "exceeds" in str(long_result)
    assert isinstance(short_result, Summary) and short_result.chunks == 1
