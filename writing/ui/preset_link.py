"""The link between the Presets tab and every tab's preset dropdown (the Advanced panel's).

They share one hidden per-session `gr.State` per Blocks app. Apply (or a save/delete, which changes
the list) writes it; every dropdown registered with `follow_applied(ctx, dropdown, tab=...)` listens
to it, refreshes its choices and, on Apply, switches to the applied preset (its own `.change` then
reloads that tab's sliders). Tabs may be built in any order; neither side imports the other.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.context import Context

from writing.library.presets import LOCAL, PresetStore

# One state per Blocks app under construction; weak, so a discarded app (tests build many) is freed.
_STATES: weakref.WeakKeyDictionary[gr.Blocks, gr.State] = weakref.WeakKeyDictionary()


def link_state() -> gr.State:
    """This app's link state: {"serial": n, "apply": preset name or None}."""
    root = Context.root_block
    if root is None:
        raise RuntimeError("link_state() must be called inside a gr.Blocks context")
    if root not in _STATES:
        _STATES[root] = gr.State({"serial": 0, "apply": None})
    return _STATES[root]


def bump(signal: dict[str, Any] | None, *, apply: str | None = None) -> dict[str, Any]:
    """A new state value; the serial makes every Apply a change, even of the same preset twice."""
    return {"serial": (signal or {}).get("serial", 0) + 1, "apply": apply}


def request_user(request: gr.Request | None) -> str:
    """The login name of a request, "local" without one (UIContext.user_of's default)."""
    return (getattr(request, "username", None) if request is not None else None) or LOCAL


def follow_applied(store: PresetStore, dropdown: gr.Dropdown, *, tab: str,
                   user_of: Callable[[gr.Request | None], str] | None = None) -> None:
    """Make a tab's preset dropdown follow the Presets tab: new choices on save/delete, the preset on Apply;
    and on page load, the choices of the user who opened the page (built before anyone is known)."""
    state = link_state()
    who = user_of or request_user

    def refresh(signal: dict[str, Any] | None, current: str | None, request: gr.Request) -> Any:
        return follow(store, tab, signal, current, user=who(request))

    def on_load(current: str | None, request: gr.Request) -> Any:
        return follow(store, tab, None, current, user=who(request))

    state.change(refresh, [state, dropdown], dropdown, queue=False, api_visibility="private")
    gr.on(None, on_load, dropdown, dropdown, queue=False, api_visibility="private")


def follow(store: PresetStore, tab: str, signal: dict[str, Any] | None, current: str | None, *,
           user: str | None = LOCAL) -> Any:
    """The Presets tab changed the list or applied a preset: refresh the choices; switch on Apply."""
    names = store.names(user)
    wanted = (signal or {}).get("apply") or current
    if wanted not in names:
        wanted = store.for_tab(tab, user).name if names else None  # the tab's preset was deleted: back to its default
    return gr.update(choices=names, value=wanted)
