"""Bad input through raw HTTP to the Gradio API (POST /gradio_api/call/<api>, then its SSE stream) and
through gradio_client: every case ends with a clear error event carrying our text, never a 500, a hang
or lost text. The studio runs the real tiny model in this process.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.support.hardening import blog_data, call, serve, wait_idle
from writing.engines.local import LocalEngine

NUMERIC = ["temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "max_new_tokens"]
# /code: task, language, constraints, then the sampling panel; /chat: message, history, then the panel.
SAMPLING = {"temperature": 0.3, "top_p": 0.9, "top_k": 20, "min_p": 0.0, "repetition_penalty": 1.0,
            "presence_penalty": 0.0, "max_new_tokens": 16, "seed": 1}
APIS = {
    "blog": lambda **o: blog_data(**{"max_new_tokens": 16, **o}),
    "code": lambda task="Add two numbers", **o: [task, "Python", "", *{**SAMPLING, **o}.values()],
    "chat": lambda message="Hello", **o: [message, [], *{**SAMPLING, **o}.values()],
}
PROMPT_ARG = {"blog": "topic", "code": "task", "chat": "message"}


@pytest.fixture(scope="module")
def engine(tiny_loaded) -> LocalEngine:
    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=4096)


@pytest.fixture(scope="module")
def server(engine):
    with serve(engine) as running:
        yield running


def _error_text(status: int, events: list) -> str:
    assert status == 200, f"the API refused the request with HTTP {status}: {events}"
    kind, data = events[-1]
    assert kind == "error", f"expected a clear error event, got {kind}: {str(data)[:300]}"
    assert isinstance(data, dict) and data.get("error"), f"an error event without a message: {data!r}"
    return str(data["error"])


@pytest.mark.parametrize("api", list(APIS))
def test_empty_prompt_is_refused_clearly(server, api):
    for empty in ("", "   \n\t "):
        message = _error_text(*call(server.url, api, APIS[api](**{PROMPT_ARG[api]: empty}), timeout=30))
        assert "first" in message or "empty" in message.lower(), message


@pytest.mark.parametrize("api", list(APIS))
def test_100k_character_prompt_says_too_long_at_once(server, engine, api):
    import time

    started = time.perf_counter()
    message = _error_text(*call(server.url, api, APIS[api](**{PROMPT_ARG[api]: "word " * 20_000}), timeout=30))
    took = time.perf_counter() - started
    if api == "chat":  # chat counts tokens itself first (to drop old turns): the engine's budget message
        assert "too long" in message.lower(), message
    else:  # refused by its size in characters, before any tokenising (writing/ui/guard.py)
        assert "too long" in message and "characters" in message, message
    assert took < 10, f"refusing a 100k prompt took {took:.1f}s"
    assert not engine.busy


@pytest.mark.parametrize("api", list(APIS))
def test_lone_surrogates_and_control_characters_are_cleaned_not_fatal(server, engine, api):
    # JSON can carry a lone surrogate as an escape; Python's json.dumps writes it as "\\ud800".
    nasty = "Tell me \ud800 about \udfff tests\x00\x07\x1b[31m\u202e and \r\n newlines"
    status, events = call(server.url, api, APIS[api](**{PROMPT_ARG[api]: nasty}), timeout=60)
    assert status == 200 and events[-1][0] == "complete", events[-1]
    wait_idle(engine)


BAD_VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "negative": -5, "NaN-string": "NaN",
              "word": "hot", "huge": 10**30}
# A negative seed is not bad: -1 (any small negative) means "random" (test_negative_seed_means_random).
BAD_CASES = [(field, bad) for field in NUMERIC + ["seed"] for bad in BAD_VALUES
             if not (field == "seed" and bad == "negative")]


@pytest.mark.parametrize("api", list(APIS))
@pytest.mark.parametrize(("field", "bad"), BAD_CASES)
def test_bad_numbers_get_a_message_naming_the_field(server, engine, api, field, bad):
    value = BAD_VALUES[bad]
    data = APIS[api](**{field: value})
    raw = json.dumps({"data": data}).encode()  # NaN/Infinity as Python's json writes them, as a client would
    status, events = call(server.url, api, data, raw=raw, timeout=30)
    message = _error_text(status, events)
    # The message starts with the field's own name (guard.checked_number / ParamError), never only
    # gradio's generic "slider"/"number" text: every one of these cases must say WHICH field is wrong.
    assert message.startswith(f"{field}:"), message
    assert "Traceback" not in message
    assert not engine.busy


@pytest.mark.parametrize("bad", [math.nan, math.inf, -100, "NaN", "many", 10**30])
def test_blog_word_target_rejects_bad_numbers(server, engine, bad):
    data = blog_data(words=bad)
    message = _error_text(*call(server.url, "blog", data, raw=json.dumps({"data": data}).encode(), timeout=30))
    assert message.startswith("words:"), message
    assert not engine.busy


def test_negative_seed_means_random(server, engine):
    status, events = call(server.url, "blog", blog_data(seed=-7, max_new_tokens=16), timeout=60)
    assert status == 200 and events[-1][0] == "complete", events[-1]


def test_malformed_json_body_is_a_4xx_not_a_500(server):
    from tests.support.hardening import post_call

    for raw in (b"{not json", b'{"data": 5}', b"[]", b'{"data": ["x"]}'):
        response = post_call(server.url, "blog", [], raw=raw)
        if response.status_code == 200:  # accepted: the stream must end with an error, not hang
            from tests.support.hardening import read_events

            events = read_events(server.url, "blog", response.json()["event_id"], timeout=30)
            assert events[-1][0] == "error", events
        else:
            assert 400 <= response.status_code < 500, (raw, response.status_code, response.text[:200])


def test_gradio_client_path_gets_the_same_clear_messages(server):
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    try:
        with pytest.raises(Exception, match="Write a topic first"):
            client.predict(*blog_data(topic=""), api_name="/blog")
        with pytest.raises(Exception, match="temperature: must be a finite number"):
            client.predict(*blog_data(temperature="inf"), api_name="/blog")  # the client cannot send a float inf
        with pytest.raises(Exception, match="(?i)too long"):
            client.predict("x" * 100_000, api_name="/chat")
    finally:
        client.close()


def test_unknown_preset_malformed_yaml_and_traversal_names(tmp_path):
    from writing.errors import StudioError
    from writing.library.presets import Preset, PresetStore

    builtin = tmp_path / "builtin"
    builtin.mkdir()
    (builtin / "fine.yaml").write_text("name: fine\ntemperature: 0.5\n", encoding="utf-8")
    user = tmp_path / "user"
    user.mkdir()
    (user / "broken.yaml").write_text("name: [unclosed\ntemperature: :\n", encoding="utf-8")
    (user / "nan.yaml").write_text("name: nan\ntemperature: .nan\n", encoding="utf-8")
    (user / "extra.yaml").write_text("name: extra\ntemperature: 0.5\nexec: rm -rf /\n", encoding="utf-8")
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    problems = store.reload()
    assert store.names() == ["fine"]
    assert len(problems) == 3 and all(any(n in p for n in ("broken", "nan", "extra")) for p in problems), problems
    with pytest.raises(StudioError, match="unknown preset '../../etc/passwd'.*available: fine"):
        store.get("../../etc/passwd")
    with pytest.raises(ValueError, match="must not contain '/'"):
        Preset(name="../../escape", temperature=0.4)
    with pytest.raises(ValueError, match="letter or digit"):
        Preset(name="..", temperature=0.4)
    saved = store.save_user(Preset(name="..escape..", temperature=0.4))
    assert saved.resolve().parent == user.resolve(), saved  # a dotted name stays inside the user folder
    assert not (tmp_path / "escape.yaml").exists()
    with pytest.raises(StudioError):
        store.delete_user("../builtin/fine")
    assert (builtin / "fine.yaml").exists()


# ---------------------------------------------------------------- long form: /outline, /expand_section

BRIEF = {"topic": "Tests", "audience": "", "style": "", "language": "English", "total_words": 1200, "sections": 3}
OUTLINE = {"title": "T", "sections": [{"title": "A", "points": "p", "target": 300},
                                      {"title": "B", "points": "q", "target": 300}]}
BAD_NUMBERS = [math.nan, math.inf, -5, "NaN", "many", 10**12]


def _raw_call(server, api: str, data: list) -> str:
    return _error_text(*call(server.url, api, data, raw=json.dumps({"data": data}).encode(), timeout=30))


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
@pytest.mark.parametrize("field", ["total_words", "sections"])
def test_outline_brief_numbers_are_checked(server, engine, field, bad):
    assert field in _raw_call(server, "outline", [{**BRIEF, field: bad}, ""])
    assert not engine.busy


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_expand_section_index_is_checked(server, engine, bad):
    assert "index" in _raw_call(server, "expand_section", [BRIEF, OUTLINE, bad, "", "write", ""])
    assert not engine.busy


@pytest.mark.parametrize("preset", ["nope", "../../etc/passwd", "C:\\\\windows\\\\win.ini", "\x00"])
def test_unknown_and_traversal_preset_names_over_the_api(server, preset):
    message = _raw_call(server, "outline", [BRIEF, preset])
    assert "unknown preset" in message and "available:" in message, message


def test_long_form_shapes_and_sizes_are_checked(server):
    assert "topic" in _raw_call(server, "outline", [{**BRIEF, "topic": ""}, ""])
    assert "at most" in _raw_call(server, "outline", [{**BRIEF, "topic": "x" * 100_000}, ""])
    assert "brief" in _raw_call(server, "outline", ["not a dict", ""])
    assert "sections" in _raw_call(server, "expand_section", [BRIEF, {"title": "x"}, 0, "", "write", ""])
    assert "mode" in _raw_call(server, "expand_section", [BRIEF, OUTLINE, 0, "", "explode", ""])
