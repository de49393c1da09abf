"""The Long-form tab's API (/outline, /expand_section) through gradio_client against the real app
with the tiny model on 127.0.0.1 (tests/support/ui_server.py launches it and stops it)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from gradio_client import Client

from tests.support.ui_server import serve_studio
from writing.compose.outline import Outline, Section
from writing.compose.wordcount import count_words
from writing.engines.local import LocalEngine

BRIEF = {"topic": "Remote work", "audience": "managers", "style": "practical", "language": "English",
         "total_words": 200, "sections": 1}
OUTLINE = Outline("Remote work", (
    Section("Why it matters", ("the shift",), 50, text="It started in 2020. Offices emptied."),
    Section("Running a team", ("rituals", "tools"), 50),
    Section("Monday", (), 50, locked=True, text="Kept as it is."),
)).to_dict()


@pytest.fixture(scope="module")
def server(tiny_loaded):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype,
                         context=4096)
    with serve_studio(engine) as running:
        yield running


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(server.url, verbose=False, download_files=False)


def test_tab_is_in_the_app_and_the_api_is_documented(server, client) -> None:
    config = server.app.get_config_file()
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"longform-outline", "longform-table", "longform-expand", "longform-doc"} <= ids
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/outline"]["parameters"]] == ["brief", "preset"]
    assert [p["parameter_name"] for p in api["/expand_section"]["parameters"]] == [
        "brief", "outline", "index", "previous_text", "mode", "preset"]


def test_outline_endpoint_returns_data_or_the_raw_reply(client) -> None:
    """The tiny model writes gibberish: the answer is then ok=false with the raw reply to edit by hand.
    If the gibberish happens to parse, the outline must still be well formed and sum to the total."""
    result = client.predict(BRIEF, "", api_name="/outline")
    assert set(result) == {"ok", "outline", "raw", "error"}
    assert result["raw"].strip()
    if result["ok"]:
        outline = Outline.from_dict(result["outline"])
        assert outline.sections and outline.total_target == 200
    else:
        assert result["outline"] is None and "Could not find sections" in result["error"]


def test_expand_section_streams_one_section(client) -> None:
    job = client.submit(BRIEF, OUTLINE, 1, "Teams met on video every morning.", "write", "",
                        api_name="/expand_section")
    final = job.result(timeout=300)
    updates = job.outputs()
    assert len(updates) >= 2  # streamed, not one final blob
    assert final == updates[-1] and count_words(final) > 0
    texts = [u for u in updates if u]
    assert len(set(texts)) >= 2, updates  # the text grew while streaming
    for before, after in zip(texts, texts[1:], strict=False):  # each update extends the one before, whole
        assert after.startswith(before), (before[-60:], after[-60:])
    # One section's text: not the previous section quoted back, not the locked section after it.
    assert "Kept as it is." not in final and "Teams met on video every morning." not in final


def test_expand_section_errors_are_readable(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="no section 7"):
        client.predict(BRIEF, OUTLINE, 7, "", "write", "", api_name="/expand_section")
    with pytest.raises(AppError, match="locked"):
        client.predict(BRIEF, OUTLINE, 2, "", "write", "", api_name="/expand_section")
    with pytest.raises(AppError, match="topic"):
        client.predict({**BRIEF, "topic": " "}, OUTLINE, 0, "", "write", "", api_name="/expand_section")
    with pytest.raises(AppError, match=r"sections\[0\].target"):
        bad = {"title": "x", "sections": [{"title": "a", "target": 5}]}
        client.predict(BRIEF, bad, 0, "", "write", "", api_name="/expand_section")
    with pytest.raises(AppError, match="unknown preset"):
        client.predict(BRIEF, "nope", api_name="/outline")


def _handlers(app) -> dict:
    """The tab's private UI handlers by name (methods of the app's LongformTab, or closures they return)."""
    found: dict = {}
    for dep in app.fns.values():
        name = getattr(dep.fn, "__qualname__", "")
        if name.startswith("LongformTab."):
            found.setdefault(name.removeprefix("LongformTab."), []).append(dep.fn)
    return found


def test_ui_handlers_outline_edit_expand_stop(server) -> None:
    """The UI path: typed outline -> parsed into the table -> edited (lock) -> expand all streams into the
    document -> Stop in the middle of a section keeps the finished sections and the partial one."""
    import gradio as gr

    ui = _handlers(server.app)
    request = gr.Request()  # no session: every call shares the "no-session" key, as one browser tab would
    brief = ["Remote work", "managers", "practical", "English", 200, 0, {}]  # {}: an empty story bible
    sampling = [1.0, 0.9, 40, 0.0, 1.0, 0.0, 64, 7]
    typed = "# Remote\n## 1. Intro (50 words)\n- why\n## 2. Body (50 words)\n## 3. End\n"
    note, rows, doc, *_ = ui["reparse"][0](typed, *brief, None)
    assert note == "Parsed 3 sections." and [r[2] for r in rows] == [50, 50, 100]  # End: the remainder

    rows[2][3] = True  # lock "End"
    rows, doc, estimate, *_ = ui["table_edited"][0](rows, doc, *brief)
    assert doc["sections"][2]["locked"] and "2 section(s)" in estimate

    steps = list(ui["write_all"][0](doc, None, False, True, *brief, *sampling, request))  # None: no document draft yet
    rows, doc, _, scores, document, download, _doc_key, line = steps[-1]
    assert line.startswith("Done.")
    assert [bool(s["text"]) for s in doc["sections"]] == [True, True, False]
    assert document.startswith("# Remote\n\n## Intro\n\n") and download["interactive"]
    assert scores[-1][1] == "Document"
    assert len(steps) > 3  # streamed

    # Regenerate section 2 while stopping it after a few updates: section 1 is kept byte for byte.
    first = doc["sections"][0]["text"]
    halt = ui["halt"][0]
    partial = []
    for step in ui["write_one.<locals>.run"][0](doc, None, 2, *brief, *sampling, request):
        partial.append(step)
        if len(partial) == 3:
            stopping = halt(request)
            if inspect.iscoroutine(stopping):  # Stop is async now (it also unqueues waiting runs)
                asyncio.run(stopping)
    rows, stopped_doc, *_, line = partial[-1]
    assert line.startswith("Stopped")
    assert stopped_doc["sections"][0]["text"] == first
    assert stopped_doc["sections"][1]["text"].strip()


def test_generating_handlers_get_the_request_from_gradio(server) -> None:
    """gradio injects gr.Request by annotation: each generating handler must declare it after its inputs
    (a *values signature would silently receive the seed as the request)."""
    import gradio as gr
    from gradio.helpers import special_args

    checked = 0
    for dep in server.app.fns.values():
        name = getattr(dep.fn, "__qualname__", "")
        if name.startswith("LongformTab.") and dep.concurrency_id == "model" and "api_" not in name:
            args, *_ = special_args(dep.fn, list(range(len(dep.inputs))), request=gr.Request())
            assert len(args) == len(dep.inputs) + 1 and isinstance(args[-1], gr.Request), name
            checked += 1
    assert checked == 4  # outline, expand all, regenerate, continue
