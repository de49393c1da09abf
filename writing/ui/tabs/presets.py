"""The Presets tab: list, view, edit (the shared sampling controls), save as new, delete user presets,
apply to every tab (through writing/ui/preset_link.py, which every tab's preset dropdown follows).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from writing.engines.params import SamplingParams
from writing.errors import StudioError
from writing.library.presets import PresetStore, parse_preset
from writing.ui.i18n import t
from writing.ui.preset_link import bump, link_state
from writing.ui.sampling import FIELDS, control_values, sampling_controls, values_dict

# --- the Presets tab -----------------------------------------------------------------------------------------


def describe(store: PresetStore, name: str) -> str:
    preset = store.get(name)
    kind = "built-in · read-only" if store.is_builtin(name) else "user preset"
    rows = "\n".join(f"| {key} | `{value}` |" for key, value in preset.params().model_dump().items())
    return f"### {preset.name}\n*{kind}*\n\n{preset.description}\n\n| | |\n|---|---|\n{rows}"


def problems_text(store: PresetStore) -> str:
    if not store.problems:
        return ""
    lines = "\n".join(f"- {line}" for line in store.problems)
    return f"**⚠ Skipped preset files:**\n{lines}\n\nFix or delete them, then press Reload."


class PresetsTab:
    """The Presets tab's handlers: plain methods over the store, so tests call them directly."""

    def __init__(self, store: PresetStore):
        self.store = store

    def show(self, selected: str | None) -> list[Any]:
        """-> [view, *controls, description, update button, delete button]"""
        if not selected:
            return [gr.skip()] * (len(FIELDS) + 4)
        try:
            preset = self.store.get(selected)
        except StudioError as exc:
            off = gr.update(interactive=False)
            return [f"⚠ {exc}", *[gr.skip()] * len(FIELDS), gr.skip(), off, off]
        user = not self.store.is_builtin(selected)
        return [describe(self.store, selected), *control_values(preset), preset.description,
                gr.update(interactive=user), gr.update(interactive=user)]

    def save_as_new(self, new_name: str, description: str, signal: dict[str, Any] | None,
                    *values: Any) -> list[Any]:
        """-> [status, preset dropdown, link state]"""
        try:
            preset = parse_preset({"name": new_name, "description": description, **values_dict(values)})
            path = self.store.save_user(preset)
        except StudioError as exc:
            return [f"⚠ Not saved: {exc}", gr.skip(), gr.skip()]
        choices = gr.update(choices=self.store.names(), value=preset.name)
        return [f"✓ Saved **{preset.name}** ({path.name}).", choices, bump(signal)]

    def update_user(self, selected: str, description: str, signal: dict[str, Any] | None,
                    *values: Any) -> list[Any]:
        """-> [status, view, link state]"""
        try:
            if self.store.is_builtin(selected):
                raise StudioError(f"{selected!r} is a built-in preset: use Save as new preset")
            preset = parse_preset({"name": selected, "description": description, **values_dict(values)})
            self.store.save_user(preset, overwrite=True)
        except StudioError as exc:
            return [f"⚠ Not saved: {exc}", gr.skip(), gr.skip()]
        return [f"✓ Updated **{preset.name}**.", describe(self.store, preset.name), bump(signal)]

    def delete(self, selected: str, signal: dict[str, Any] | None) -> list[Any]:
        """-> [status, preset dropdown, link state]"""
        try:
            self.store.delete_user(selected)
        except StudioError as exc:
            return [f"⚠ {exc}", gr.skip(), gr.skip()]
        fallback = self.store.for_tab("chat").name if self.store.names() else None
        return [f"✓ Deleted **{selected}**.", gr.update(choices=self.store.names(), value=fallback), bump(signal)]

    def reload(self, selected: str | None, signal: dict[str, Any] | None) -> list[Any]:
        """-> [status, problems, preset dropdown, link state]"""
        self.store.reload()
        names = self.store.names()
        value = selected if selected in names else (names[0] if names else None)
        skipped = len(self.store.problems)
        note = f"Reloaded {len(names)} presets" + (f"; {skipped} file(s) skipped." if skipped else ".")
        return [note, problems_text(self.store), gr.update(choices=names, value=value), bump(signal)]

    def apply(self, selected: str | None, signal: dict[str, Any] | None) -> list[Any]:
        """-> [status, link state]"""
        if not selected or selected not in self.store.names():
            return ["⚠ Choose a preset first.", gr.skip()]
        return [f"✓ Applied **{selected}**: every tab's next run uses it.", bump(signal, apply=selected)]


def build_presets_tab(ctx: Any) -> None:
    store: PresetStore = ctx.presets
    state = link_state()
    tab = PresetsTab(store)
    first = store.for_tab("chat") if store.names() else None
    with gr.Tab(t("tab_presets")):
        gr.Markdown(t("presets_intro"))
        with gr.Row():
            with gr.Column(scale=1):
                choose = gr.Dropdown(store.names(), value=first.name if first else None, label=t("preset"))
                view = gr.Markdown(describe(store, first.name) if first else "No presets loaded.")
                with gr.Row():
                    apply = gr.Button(t("presets_apply"), variant="primary")
                    reload = gr.Button(t("presets_reload"))
                problems = gr.Markdown(problems_text(store))
            with gr.Column(scale=2):
                controls = sampling_controls(first or SamplingParams())
                name = gr.Textbox(label=t("presets_name"), placeholder=t("presets_name_ph"), max_lines=1)
                description = gr.Textbox(label=t("presets_description"), max_lines=2,
                                         value=first.description if first else "")
                with gr.Row():
                    save_new = gr.Button(t("presets_save_new"))
                    update = gr.Button(t("presets_update"), interactive=False)
                    delete = gr.Button(t("presets_delete"), variant="stop", interactive=False)
                status = gr.Markdown()

    # UI-only events: preset editing is not part of the public API (/blog, /code, /chat are).
    private: dict[str, Any] = {"api_visibility": "private"}
    choose.change(tab.show, choose, [view, *controls, description, update, delete], queue=False, **private)
    save_new.click(tab.save_as_new, [name, description, state, *controls], [status, choose, state], **private)
    update.click(tab.update_user, [choose, description, state, *controls], [status, view, state], **private)
    delete.click(tab.delete, [choose, state], [status, choose, state], **private)
    reload.click(tab.reload, [choose, state], [status, problems, choose, state], **private)
    apply.click(tab.apply, [choose, state], [status, state], queue=False, **private)
