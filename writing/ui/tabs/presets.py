"""The Presets tab: list, view, edit (the shared sampling controls), save as new, delete user presets,
apply to every tab (through writing/ui/preset_link.py, which every tab's preset dropdown follows).

User presets belong to their login (writing/library/presets.py): every handler acts for the request's
user. Names and descriptions are user text: descriptions are shown only in a Textbox (plain text), and
names are escaped wherever they appear inside Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import gradio as gr

from writing.engines.params import SamplingParams
from writing.errors import StudioError
from writing.library.presets import LOCAL, PresetStore, parse_preset
from writing.ui.i18n import t
from writing.ui.preset_link import bump, link_state, request_user
from writing.ui.sampling import FIELDS, control_values, sampling_controls, values_dict

# --- the Presets tab -----------------------------------------------------------------------------------------

# Characters that make Markdown or HTML active: links and images need "[", tags "<", emphasis "*" "_", code "`".
# "<" only starts a tag, comment or autolink before a letter, "/", "!" or "?" ("<= 2.0" stays as it is).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]!|~&#]|<(?=[A-Za-z/!?]))")


def plain(text: str) -> str:
    """Text shown inside Markdown as plain text: the characters that could make a link, an image (a beacon),
    a form or any tag are escaped, bare URLs are kept from turning into links, line breaks are flattened."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat).replace("://", ":\\/\\/")


def describe(store: PresetStore, name: str, user: str | None = LOCAL) -> str:
    """The preset's card. The description is NOT in it: it is plain text, shown in its own Textbox."""
    preset = store.get(name, user)
    kind = "built-in · read-only" if store.is_builtin(name) else "your preset"
    rows = "\n".join(f"| {key} | `{value}` |" for key, value in preset.params().model_dump().items())
    return f"### {plain(preset.name)}\n*{kind}*\n\n| | |\n|---|---|\n{rows}"


def problems_text(store: PresetStore, user: str | None = LOCAL) -> str:
    problems = store.problems_of(user)
    if not problems:
        return ""
    lines = "\n".join(f"- {plain(line)}" for line in problems)
    return f"**⚠ Skipped preset files:**\n{lines}\n\nFix or delete them, then press Reload."


class PresetsTab:
    """The Presets tab's handlers: plain methods over the store, so tests call them directly.

    Every method acts for `user` (the login; "local" without one): a user sees the built-ins and their own
    presets only, and can update or delete only their own.
    """

    def __init__(self, store: PresetStore):
        self.store = store

    def show(self, selected: str | None, *, user: str = LOCAL) -> list[Any]:
        """-> [view, *controls, description, update button, delete button]"""
        if not selected:
            return [gr.skip()] * (len(FIELDS) + 4)
        try:
            preset = self.store.get(selected, user)
        except StudioError as exc:
            off = gr.update(interactive=False)
            return [f"⚠ {plain(str(exc))}", *[gr.skip()] * len(FIELDS), gr.skip(), off, off]
        mine = not self.store.is_builtin(selected)
        return [describe(self.store, selected, user), *control_values(preset), preset.description,
                gr.update(interactive=mine), gr.update(interactive=mine)]

    def save_as_new(self, new_name: str, description: str, signal: dict[str, Any] | None,
                    *values: Any, user: str = LOCAL) -> list[Any]:
        """-> [status, preset dropdown, link state]"""
        try:
            preset = parse_preset({"name": new_name, "description": description, **values_dict(values)})
            path = self.store.save_user(preset, user=user)
        except StudioError as exc:
            return [f"⚠ Not saved: {plain(str(exc))}", gr.skip(), gr.skip()]
        choices = gr.update(choices=self.store.names(user), value=preset.name)
        return [f"✓ Saved **{plain(preset.name)}** ({path.name}).", choices, bump(signal)]

    def update_user(self, selected: str, description: str, signal: dict[str, Any] | None,
                    *values: Any, user: str = LOCAL) -> list[Any]:
        """-> [status, view, link state]"""
        try:
            if self.store.is_builtin(selected):
                raise StudioError(f"{selected!r} is a built-in preset: use Save as new preset")
            preset = parse_preset({"name": selected, "description": description, **values_dict(values)})
            self.store.save_user(preset, overwrite=True, user=user)
        except StudioError as exc:
            return [f"⚠ Not saved: {plain(str(exc))}", gr.skip(), gr.skip()]
        return [f"✓ Updated **{plain(preset.name)}**.", describe(self.store, preset.name, user), bump(signal)]

    def delete(self, selected: str, signal: dict[str, Any] | None, *, user: str = LOCAL) -> list[Any]:
        """-> [status, preset dropdown, link state]"""
        try:
            self.store.delete_user(selected, user=user)
        except StudioError as exc:
            return [f"⚠ {plain(str(exc))}", gr.skip(), gr.skip()]
        names = self.store.names(user)
        fallback = self.store.for_tab("chat", user).name if names else None
        return [f"✓ Deleted **{plain(selected)}**.", gr.update(choices=names, value=fallback), bump(signal)]

    def reload(self, selected: str | None, signal: dict[str, Any] | None, *, user: str = LOCAL) -> list[Any]:
        """-> [status, problems, preset dropdown, link state]"""
        self.store.reload(user)
        names = self.store.names(user)
        value = selected if selected in names else (names[0] if names else None)
        skipped = len(self.store.problems_of(user))
        note = f"Reloaded {len(names)} presets" + (f"; {skipped} file(s) skipped." if skipped else ".")
        return [note, problems_text(self.store, user), gr.update(choices=names, value=value), bump(signal)]

    def apply(self, selected: str | None, signal: dict[str, Any] | None, *, user: str = LOCAL) -> list[Any]:
        """-> [status, link state]"""
        if not selected or selected not in self.store.names(user):
            return ["⚠ Choose a preset first.", gr.skip()]
        return [f"✓ Applied **{plain(selected)}**: every tab's next run uses it.", bump(signal, apply=selected)]

    def choices(self, current: str | None, *, user: str = LOCAL) -> Any:
        """The picker's list for this user (on page load); keeps the current choice when it is still there."""
        names = self.store.names(user)
        return gr.update(choices=names, value=current if current in names else (names[0] if names else None))


def build_presets_tab(ctx: Any) -> None:
    store: PresetStore = ctx.presets
    who: Callable[[Any], str] = getattr(ctx, "user_of", None) or request_user
    state = link_state()
    tab = PresetsTab(store)
    # Built before anyone is known: the built-ins only. Each page then loads its user's list.
    first = store.for_tab("chat", None) if store.names(None) else None
    with gr.Tab(t("tab_presets")):
        gr.Markdown(t("presets_intro"))
        with gr.Row():
            with gr.Column(scale=1):
                choose = gr.Dropdown(store.names(None), value=first.name if first else None, label=t("preset"))
                view = gr.Markdown(describe(store, first.name, None) if first else "No presets loaded.")
                with gr.Row():
                    apply_button = gr.Button(t("presets_apply"), variant="primary")
                    reload_button = gr.Button(t("presets_reload"))
                problems = gr.Markdown(problems_text(store, None))
            with gr.Column(scale=2):
                controls = sampling_controls(first or SamplingParams())
                name = gr.Textbox(label=t("presets_name"), placeholder=t("presets_name_ph"), max_lines=1)
                # Plain text, never rendered: a description is shown and edited here only.
                description = gr.Textbox(label=t("presets_description"), max_lines=2,
                                         value=first.description if first else "")
                with gr.Row():
                    save_button = gr.Button(t("presets_save_new"))
                    update_button = gr.Button(t("presets_update"), interactive=False)
                    delete_button = gr.Button(t("presets_delete"), variant="stop", interactive=False)
                status = gr.Markdown()

    # gradio passes the request to a parameter annotated gr.Request; the user comes from it, never from input.
    def show(request: gr.Request, selected: str | None) -> list[Any]:
        return tab.show(selected, user=who(request))

    def save_as_new(request: gr.Request, new_name: str, description: str, signal: Any, *values: Any) -> list[Any]:
        return tab.save_as_new(new_name, description, signal, *values, user=who(request))

    def update_user(request: gr.Request, selected: str, description: str, signal: Any, *values: Any) -> list[Any]:
        return tab.update_user(selected, description, signal, *values, user=who(request))

    def delete(request: gr.Request, selected: str, signal: Any) -> list[Any]:
        return tab.delete(selected, signal, user=who(request))

    def reload(request: gr.Request, selected: str | None, signal: Any) -> list[Any]:
        return tab.reload(selected, signal, user=who(request))

    def apply(request: gr.Request, selected: str | None, signal: Any) -> list[Any]:
        return tab.apply(selected, signal, user=who(request))

    def choices(request: gr.Request, current: str | None) -> Any:
        return tab.choices(current, user=who(request))

    # UI-only events: preset editing is not part of the public API (/blog, /code, /chat are).
    private: dict[str, Any] = {"api_visibility": "private"}
    gr.on(None, choices, choose, choose, queue=False, **private)  # page load: this user's presets
    choose.change(show, choose, [view, *controls, description, update_button, delete_button], queue=False,
                  **private)
    save_button.click(save_as_new, [name, description, state, *controls], [status, choose, state], **private)
    update_button.click(update_user, [choose, description, state, *controls], [status, view, state], **private)
    delete_button.click(delete, [choose, state], [status, choose, state], **private)
    reload_button.click(reload, [choose, state], [status, problems, choose, state], **private)
    apply_button.click(apply, [choose, state], [status, state], queue=False, **private)
