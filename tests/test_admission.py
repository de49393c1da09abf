"""Work before admission (issue 13, part 2): every request is counted by the rate limit and bounded by the
size caps (writing/compose/limits.py) BEFORE any tokenising, parsing or word counting.

The endpoint tests speak raw HTTP to a studio launched on 127.0.0.1 (tests/support/hardening.py) and
count the engine's count_tokens calls: a refused request must have cost none.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from typing import Any

import pytest

from tests.support.hardening import blog_data, call, serve
from writing.access.ratelimit import RateLimiter
from writing.compose import limits
from writing.compose.outline import Outline
from writing.engines.base import check_budget
from writing.engines.local import LocalEngine
from writing.errors import ParamError

CONTEXT = 4096


class CountingEngine:
    """The real engine, counting what it tokenises (calls and characters) for the admission checks."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.calls = 0
        self.chars = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def count_tokens(self, messages: Sequence[dict[str, Any]]) -> int:
        self.calls += 1
        self.chars += sum(len(str(m.get("content", ""))) for m in messages)
        return self.engine.count_tokens(messages)


@pytest.fixture(scope="module")
def engine(tiny_loaded) -> LocalEngine:
    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype,
                       context=CONTEXT)


def history(n: int, text: str = "a short message about lighthouses") -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} {text}"} for i in range(n)]


def chat_data(message: str, past: list[dict[str, str]]) -> list[Any]:
    return [message, past, 0.7, 0.8, 20, 0.0, 1.0, 0.0, 8, 1]


def error_of(events: list[tuple[str, Any]]) -> str:
    kind, data = events[-1]
    assert kind == "error", events[-1]
    return str((data or {}).get("error") if isinstance(data, dict) else data)


# ---------------------------------------------------------------- /chat

def test_a_5000_message_chat_is_refused_before_any_tokenising(engine):
    counting = CountingEngine(engine)
    most = limits.history_message_limit(CONTEXT)
    with serve(counting) as server:
        status, events = call(server.url, "chat", chat_data("and now?", history(5000)), timeout=120)
        assert status == 200
        message = error_of(events)
        assert "5,000 messages" in message and f"at most {most:,}" in message and "Clear" in message
        # Characters too: few messages, but more text than the chat may keep.
        huge = [{"role": "user", "content": "x" * (limits.history_char_limit(CONTEXT) + 1)}]
        status, events = call(server.url, "chat", chat_data("and now?", huge), timeout=120)
        assert f"at most {limits.history_char_limit(CONTEXT):,}" in error_of(events)
    assert counting.calls == 0, "the history was tokenised before it was refused"


def test_the_rate_limit_is_checked_before_the_history_is_read(engine):
    counting = CountingEngine(engine)
    with serve(counting, limiter=RateLimiter(limit=1, window_s=600)) as server:
        status, events = call(server.url, "blog", blog_data(max_new_tokens=4))
        assert events[-1][0] == "complete", events[-1]
        before = counting.calls
        # A long (allowed) history: fitting it would tokenise; a caller over the limit must not get that far.
        status, events = call(server.url, "chat", chat_data("again", history(400, "word " * 40)), timeout=120)
        assert "Too many requests" in error_of(events)
        # Over the limit AND over the size caps: the cheaper refusal (the rate limit) is the one given.
        status, events = call(server.url, "chat", chat_data("again", history(5000)), timeout=120)
        assert "Too many requests" in error_of(events)
    assert counting.calls == before, "work was done for a request the rate limit refused"


def _old_fit_history(engine, system, turns, max_new_tokens):
    """The reference: drop the oldest exchange, count again (quadratic), as fit_history did before."""
    kept, dropped = list(turns), 0
    while True:
        prompt = engine.count_tokens(system + kept)
        if prompt + max_new_tokens <= engine.context:
            return kept, dropped
        if len(kept) <= 1:
            check_budget(prompt, max_new_tokens, engine.context)
        cut = 1
        while cut < len(kept) - 1 and kept[cut]["role"] != "user":
            cut += 1
        kept, dropped = kept[cut:], dropped + cut


def test_fit_history_counts_a_logarithmic_number_of_times_and_keeps_the_same_turns(engine):
    from writing.ui.tabs.chat import fit_history

    system = [{"role": "system", "content": "You are a helpful assistant."}]
    turns = [*history(1000, "word " * 30), {"role": "user", "content": "the newest question"}]
    assert turns[-1]["role"] == "user"
    counting = CountingEngine(engine)
    kept, dropped = fit_history(counting, system, turns, 256)
    assert 0 < dropped < len(turns) and kept[0]["role"] == "user" and kept[-1] == turns[-1]
    assert engine.count_tokens(system + kept) + 256 <= CONTEXT
    assert engine.count_tokens(system + turns[dropped - 2:]) + 256 > CONTEXT  # one exchange more would not fit
    # ~log2(500 exchanges) + 2 counts, each of at most what a context could hold in characters.
    assert counting.calls <= 12, counting.calls
    assert counting.chars <= counting.calls * limits.prompt_char_limit(CONTEXT)
    # Same answer as dropping one exchange at a time (on a history short enough for the quadratic way).
    short = [*history(120, "word " * 30), {"role": "user", "content": "the newest question"}]
    assert fit_history(engine, system, short, 256) == _old_fit_history(engine, system, short, 256)
    everything = history(5) + [{"role": "user", "content": "q"}]
    counting = CountingEngine(engine)
    assert fit_history(counting, system, everything, 256) == (everything, 0) and counting.calls == 1


# ---------------------------------------------------------------- /expand_section and Outline.from_dict

BRIEF = {"topic": "Lighthouses", "total_words": 1000}


def outline(sections: int = 3, points: int = 2, point: str = "a point", title: str = "Part") -> dict[str, Any]:
    return {"title": "Doc", "sections": [{"title": f"{title} {i}", "points": [point] * points, "target": 300}
                                         for i in range(sections)]}


@pytest.mark.parametrize(("plan", "expected"), [
    (outline(sections=limits.OUTLINE_MAX_SECTIONS + 1), "outline.sections: at most 100 sections, got 101"),
    (outline(points=limits.OUTLINE_MAX_POINTS + 1), "outline.sections[0].points: at most 20 key points, got 21"),
    (outline(title="t" * 400), "outline.sections[0].title: at most 300 characters, got 4"),
    (outline(point="p" * 5000), "outline.sections[0].points[0]: at most 1,000 characters, got 5,000"),
    (outline(sections=60, points=20, point="p" * 900), "the plan (titles and key points) may have at most 49,152"),
], ids=["sections", "points", "title", "point", "plan"])
def test_expand_section_refuses_an_oversized_outline_before_tokenising(engine, plan, expected):
    counting = CountingEngine(engine)
    with serve(counting) as server:
        status, events = call(server.url, "expand_section", [BRIEF, plan, 0, "", "write", ""], timeout=120)
        assert status == 200
        assert expected in error_of(events)
    assert counting.calls == 0, "the outline was tokenised before it was refused"


def test_outline_from_dict_checks_sizes_first():
    with pytest.raises(ParamError, match="at most 100 sections"):
        Outline.from_dict({"title": "x", "sections": [None] * 10_000})  # refused by count, not item by item
    with pytest.raises(ParamError, match="outline.title: at most 300 characters"):
        Outline.from_dict({"title": "x" * 10_000_000, "sections": [{"title": "a"}]})
    with pytest.raises(ParamError, match=r"sections\[0\].text: at most 400,000 characters"):
        Outline.from_dict({"title": "x", "sections": [{"title": "a", "text": "w " * 300_000}]})
    with pytest.raises(ParamError, match=r"sections\[0\].points: at most"):
        Outline.from_dict({"title": "x", "sections": [{"title": "a", "points": ";" * 1_000_000}]})
    fine = Outline.from_dict(outline(sections=40, points=5))
    assert len(fine.sections) == 40


def test_a_plan_that_cannot_fit_a_section_prompt_is_refused_without_counting():
    from writing.compose.longform import make_brief, section_messages
    from writing.compose.outline import Section
    from writing.errors import BudgetError

    calls = []
    plan = Outline(title="Doc", sections=tuple(Section(title=f"S{i}", points=("p" * 900,) * 20) for i in range(5)))
    with pytest.raises(BudgetError, match="more than a prompt budget of 3072 tokens can hold"):
        section_messages(make_brief(topic="x"), plan, 0, budget_tokens=3072,
                         count_tokens=lambda m: calls.append(1) or 10**6)
    assert calls == []


# ---------------------------------------------------------------- drafts: size cap, quota, word counts

def test_count_words_keeps_memory_flat_on_a_large_draft():
    text = ("Lighthouses guard the coast, don't they? 灯塔守护着海岸。 " * 40_000)  # ~2 M characters
    tracemalloc.start()
    try:
        from writing.compose.wordcount import count_words

        words = count_words(text)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert words == 40_000 * 13  # 6 English words + 7 CJK characters
    print(f"\n[measure] count_words on {len(text):,} characters: peak {peak / 1e6:.2f} MB")
    assert peak < 1_000_000, f"count_words allocated {peak:,} bytes for a {len(text):,}-character text"


def test_a_draft_over_the_cap_is_refused_before_its_words_are_counted(tmp_path, monkeypatch):
    from writing.library import store as store_module

    store = store_module.DraftStore(tmp_path / "d.db")
    draft = store.create(user="ann", kind="blog", title="t", content="kept as it is", status="done")
    counted = []
    real = store_module.count_words
    monkeypatch.setattr(store_module, "count_words", lambda text: counted.append(len(text)) or real(text))
    big = "x" * (limits.DRAFT_MAX_CHARS + 1)
    for attempt in (lambda: store.save(draft, user="ann", content=big),
                    lambda: store.create(user="ann", kind="blog", title="big", content=big)):
        with pytest.raises(store_module.DraftTooLargeError, match="a draft may have at most 4,000,000"):
            attempt()
    assert counted == [], "the words of a refused draft were counted"
    assert store.get(draft, user="ann").content == "kept as it is"  # refused whole, never truncated
    assert [d.title for d in store.list(user="ann")] == ["t"]
    store.close()


def test_library_save_over_the_cap_names_the_limit_through_the_api(engine, tmp_path):
    from gradio_client import Client

    from writing.library.store import DraftStore

    store = DraftStore(tmp_path / "d.db")
    draft = store.create(user="local", kind="blog", title="Post", content="short", status="done")
    try:
        with serve(engine, store=store) as server:
            client = Client(server.url, verbose=False)
            client.predict(draft, api_name="/library_open")
            message = client.predict(draft, "y" * (limits.DRAFT_MAX_CHARS + 1), api_name="/library_save")
            assert "a draft may have at most 4,000,000" in message and "Nothing was saved" in message
            assert store.get(draft, user="local").content == "short"
    finally:
        store.close()


def test_quota_per_user_refuses_with_the_limit_and_empties_the_trash_first(tmp_path):
    from writing.library.store import Autosaver, DraftStore, QuotaError

    store = DraftStore(tmp_path / "d.db", quota_bytes=100_000)
    first = store.create(user="ann", kind="blog", title="a", content="a" * 40_000, status="done")
    store.create(user="ann", kind="blog", title="b", content="b" * 40_000, status="done")
    with pytest.raises(QuotaError, match=r"over your storage quota of 97.7 KB \(--quota-mb / STUDIO_QUOTA_MB\)"):
        store.duplicate(first, user="ann")  # a server-side copy counts like any draft
    with pytest.raises(QuotaError):
        store.save(first, user="ann", content="a" * 70_000)
    store.save(first, user="ann", content="a" * 10)  # shrinking always works
    assert store.usage(user="ann") < 50_000
    store.create(user="bob", kind="blog", title="bob's", content="c" * 90_000)  # every user has their own quota
    # Deleted drafts count until purged; when they are in the way, they go first.
    store.delete(first, user="ann")
    store.create(user="ann", kind="blog", title="c", content="c" * 50_000)
    with pytest.raises(QuotaError):
        store.create(user="ann", kind="blog", title="d", content="d" * 20_000)
    saver = Autosaver(store, user="ann", kind="blog", title="run")
    saver.start("e" * 20_000)
    assert saver.error and "storage quota" in saver.error  # shown to the writer; the text stays on screen
    store.close()


def test_library_duplicate_over_the_quota_is_a_clear_message(engine, tmp_path):
    from gradio_client import Client

    from writing.library.store import DraftStore

    store = DraftStore(tmp_path / "d.db", quota_bytes=50_000)
    draft = store.create(user="local", kind="blog", title="Post", content="p" * 30_000, status="done")
    try:
        with serve(engine, store=store) as server:
            client = Client(server.url, verbose=False)
            _picked, message = client.predict(draft, api_name="/library_duplicate")
            assert "over your storage quota of 48.8 KB" in message
            assert len(store.list(user="local")) == 1
    finally:
        store.close()


def test_quota_mb_reaches_the_store(monkeypatch, engine):
    import studio
    import writing.ui.app as app_module

    built = {}
    monkeypatch.setattr(studio, "make_engine", lambda args: engine)
    monkeypatch.setattr(app_module, "launch", lambda app, **kw: None)
    real_build = app_module.build_app
    monkeypatch.setattr(app_module, "build_app", lambda ctx, **kw: built.setdefault("ctx", ctx) and real_build(ctx))
    assert studio.main(["--quota-mb", "3", "--port", "1"]) == 0
    assert built["ctx"].store.quota_bytes == 3 * 1024 * 1024
    built.clear()
    monkeypatch.setenv("STUDIO_QUOTA_MB", "0")
    assert studio.main(["--port", "1"]) == 0
    assert built["ctx"].store.quota_bytes is None
    assert studio.main(["--quota-mb", "-1"]) == 2
