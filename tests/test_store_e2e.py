"""End to end through the real studio app on 127.0.0.1 with two logged-in users (gradio auth), the tiny
model and a real SQLite file: a /blog run is saved as the caller's draft; the other user can neither
list, open, export nor delete it through the Library endpoints, whatever id they send."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client

from tests.support.ui_server import free_port
from writing.engines.local import LocalEngine
from writing.library.store import DB_NAME, DraftStore
from writing.ui.app import build_app, launch
from writing.ui.context import UIContext

USERS = [("alice", "alice-pw"), ("bob", "bob-pw")]


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Up = answers HTTP at all (with auth on, /config answers 401 until one logs in)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "config", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def studio(tiny_loaded, tmp_path_factory: pytest.TempPathFactory):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype,
                         context=2048)
    store = DraftStore(tmp_path_factory.mktemp("e2e") / DB_NAME)
    ctx = UIContext(engine=engine, store=store)
    app = build_app(ctx)
    port = free_port()
    launch(app, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True, auth=USERS)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url)
        yield url, store
    finally:
        app.close()
        store.close()


def client(url: str, user: str) -> Client:
    return Client(url, auth=(user, dict(USERS)[user]), verbose=False, download_files=False)


def test_generation_is_saved_per_user_and_isolated(studio) -> None:
    url, store = studio
    alice, bob = client(url, "alice"), client(url, "bob")
    result = alice.predict(topic="Lighthouses of 关西 ../../etc", max_new_tokens=24, seed=3, api_name="/blog")
    shown = result[0]
    [draft] = store.list(user="alice")
    saved = store.get(draft.id, user="alice")
    assert (saved.kind, saved.status) == ("blog", "done")
    assert saved.title == "Lighthouses of 关西 ../../etc"  # a title, never a path
    assert shown.strip() and saved.content.strip() == shown.strip()
    assert store.list(user="bob") == []

    table, _picked, _msg = alice.predict("", None, api_name="/library_list")
    assert [row[-1] for row in table["data"]] == [draft.id]
    table, _picked, _msg = bob.predict("", None, api_name="/library_list")
    assert all(not any(row) for row in table["data"])  # empty (gradio may send one blank row)

    # Bob knows the id (say, from a shared screen): every Library action still refuses him.
    title, text, info, _file = bob.predict(draft.id, api_name="/library_open")
    assert (title, text) == ("", "") and "no draft" in info
    file, message = bob.predict(draft.id, api_name="/library_export_md")
    assert file is None and "no draft" in message
    _deleted, message = bob.predict(draft.id, api_name="/library_delete")
    assert "no draft" in message
    assert bob.predict(draft.id, "stolen", api_name="/library_rename").startswith("⚠️")
    assert store.get(draft.id, user="alice").title == saved.title  # untouched

    title, text, info, _file = alice.predict(draft.id, api_name="/library_open")
    assert title == saved.title and text == saved.content and "blog" in info
    file, message = alice.predict(draft.id, api_name="/library_export_md")
    name = Path(file["path"] if isinstance(file, dict) else file).name
    assert name == "Lighthouses of 关西 ..-..-etc.md"  # separators gone: one harmless file name
    with contextlib.suppress(Exception):
        alice.close()
        bob.close()
