"""The Presets tab: list, view, edit (sliders), save as new, delete user presets, apply to every tab.

How "Apply" reaches the other tabs: the Presets tab and the preset dropdowns of the generating tabs
(writing/ui/sampling.py's Advanced panel) share one hidden per-session `gr.State` per Blocks app. Apply
(or a save/delete, which changes the list) writes it; every dropdown registered with
`follow_applied(ctx, dropdown, tab=...)` listens to it, refreshes its choices and, on Apply, switches
to the applied preset (its own `.change` then reloads that tab's sliders). Builders may run in any order.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.context import Context
from pydantic.fields import FieldInfo

from writing.engines.params import SamplingParams, make_params
from writing.errors import StudioError
from writing.library.presets import Preset, PresetStore, parse_preset
from writing.ui import presets_text

FIELDS: tuple[str, ...] = tuple(SamplingParams.model_fields)
_STEPS = {"temperature": 0.05, "top_p": 0.01, "top_k": 1, "min_p": 0.01, "repetition_penalty": 0.01,
          "presence_penalty": 0.05}
_NUMBERS = ("max_new_tokens", "seed")  # wide integer ranges: a number box, not a slider
_SEED_LABEL = "Seed (-1 = random)"  # same convention as the generating tabs' Advanced panel


def text(key: str) -> Any:
    """UI text: translated through writing/ui/i18n.py when its tables have the key, else English."""
    from writing.ui import i18n  # imported late: i18n may merge presets_text, which sits next to this module

    if key in i18n.EN:
        return i18n.t(key)
    return presets_text.EN.get(key) or {"seed": _SEED_LABEL}.get(key) or key.replace("_", " ").capitalize()


# --- controls for the SamplingParams fields -----------------------------------------------------------------


def bounds(name: str) -> tuple[float, float]:
    """A field's [low, high] from SamplingParams' own constraints (an open bound moves in by one step)."""
    info: FieldInfo = SamplingParams.model_fields[name]
    low, high = float("-inf"), float("inf")
    step = _STEPS.get(name, 1)
    for rule in info.metadata:
        if getattr(rule, "ge", None) is not None:
            low = rule.ge
        if getattr(rule, "gt", None) is not None:
            low = rule.gt + step
        if getattr(rule, "le", None) is not None:
            high = rule.le
        if getattr(rule, "lt", None) is not None:
            high = rule.lt - step
    return low, high


def sampling_controls(values: SamplingParams | Preset) -> list[gr.components.Component]:
    """One control per SamplingParams field, in FIELDS order, set to `values`."""
    controls: list[gr.components.Component] = []
    with gr.Row():
        for name, value in zip(FIELDS, control_values(values), strict=True):
            low, high = bounds(name)
            if name == "seed":
                low = -1  # -1 = random
            if name in _NUMBERS:
                controls.append(gr.Number(value, label=text(name), precision=0, minimum=low, maximum=high,
                                          min_width=200))
            else:
                controls.append(gr.Slider(low, high, value, step=_STEPS[name], label=text(name), min_width=200))
    return controls


def control_values(values: SamplingParams | Preset) -> list[Any]:
    """A preset's values as the controls show them (a random seed shows as -1)."""
    shown = [getattr(values, name) for name in FIELDS]
    shown[FIELDS.index("seed")] = -1 if values.seed is None else values.seed
    return shown


def values_dict(values: Sequence[Any]) -> dict[str, Any]:
    """Control values (FIELDS order) -> a dict for make_params. An empty or negative seed means random."""
    if len(values) != len(FIELDS):
        raise StudioError(f"expected {len(FIELDS)} sampling values ({', '.join(FIELDS)}), got {len(values)}")
    data = dict(zip(FIELDS, values, strict=True))
    for key in ("top_k", "max_new_tokens", "seed"):
        # Sliders and number boxes send 20.0 for 20; a real fraction still fails validation below.
        if isinstance(data[key], float) and data[key].is_integer():
            data[key] = int(data[key])
    seed = data["seed"]
    if seed in ("", None) or (isinstance(seed, int) and not isinstance(seed, bool) and seed < 0):
        data["seed"] = None
    return data


def params_from_values(*values: Any) -> SamplingParams:
    """Control values -> SamplingParams; bad values raise ParamError naming the field."""
    return make_params(values_dict(values))


# --- the link between the Presets tab and the tabs' preset dropdowns --------------------------------------


@dataclass
class _Link:
    state: gr.State  # per session: {"serial": n, "apply": name or None}


# One link per Blocks app under construction; weak, so a discarded app (tests build many) is freed.
_LINKS: weakref.WeakKeyDictionary[gr.Blocks, _Link] = weakref.WeakKeyDictionary()


def _link() -> _Link:
    root = Context.root_block
    if root is None:
        raise RuntimeError("build_presets_tab / follow_applied must be called inside a gr.Blocks context")
    link = _LINKS.get(root)
    if link is None:
        link = _Link(state=gr.State({"serial": 0, "apply": None}))
        _LINKS[root] = link
    return link


def follow_applied(ctx: Any, dropdown: gr.Dropdown, *, tab: str) -> None:
    """Make a tab's preset dropdown follow the Presets tab: new choices on save/delete, the preset on Apply."""
    store: PresetStore = ctx.presets
    state = _link().state
    state.change(lambda signal, current: follow(store, tab, signal, current), [state, dropdown], dropdown,
                 queue=False, api_visibility="private")


def follow(store: PresetStore, tab: str, signal: dict[str, Any] | None, current: str | None) -> Any:
    """The Presets tab changed the list or applied a preset: refresh the choices; switch on Apply."""
    names = store.names()
    wanted = (signal or {}).get("apply") or current
    if wanted not in names:
        wanted = store.for_tab(tab).name if names else None  # the tab's preset was deleted: back to its default
    return gr.update(choices=names, value=wanted)


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
        return [f"✓ Saved **{preset.name}** ({path.name}).", choices, _bump(signal)]

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
        return [f"✓ Updated **{preset.name}**.", describe(self.store, preset.name), _bump(signal)]

    def delete(self, selected: str, signal: dict[str, Any] | None) -> list[Any]:
        """-> [status, preset dropdown, link state]"""
        try:
            self.store.delete_user(selected)
        except StudioError as exc:
            return [f"⚠ {exc}", gr.skip(), gr.skip()]
        fallback = self.store.for_tab("chat").name if self.store.names() else None
        return [f"✓ Deleted **{selected}**.", gr.update(choices=self.store.names(), value=fallback), _bump(signal)]

    def reload(self, selected: str | None, signal: dict[str, Any] | None) -> list[Any]:
        """-> [status, problems, preset dropdown, link state]"""
        self.store.reload()
        names = self.store.names()
        value = selected if selected in names else (names[0] if names else None)
        skipped = len(self.store.problems)
        note = f"Reloaded {len(names)} presets" + (f"; {skipped} file(s) skipped." if skipped else ".")
        return [note, problems_text(self.store), gr.update(choices=names, value=value), _bump(signal)]

    def apply(self, selected: str | None, signal: dict[str, Any] | None) -> list[Any]:
        """-> [status, link state]"""
        if not selected or selected not in self.store.names():
            return ["⚠ Choose a preset first.", gr.skip()]
        return [f"✓ Applied **{selected}**: every tab's next run uses it.", _bump(signal, apply=selected)]


def build_presets_tab(ctx: Any) -> None:
    store: PresetStore = ctx.presets
    state = _link().state
    tab = PresetsTab(store)
    first = store.for_tab("chat") if store.names() else None
    with gr.Tab(text("tab_presets")):
        gr.Markdown(text("presets_intro"))
        with gr.Row():
            with gr.Column(scale=1):
                choose = gr.Dropdown(store.names(), value=first.name if first else None, label=text("preset"))
                view = gr.Markdown(describe(store, first.name) if first else "No presets loaded.")
                with gr.Row():
                    apply = gr.Button(text("presets_apply"), variant="primary")
                    reload = gr.Button(text("presets_reload"))
                problems = gr.Markdown(problems_text(store))
            with gr.Column(scale=2):
                controls = sampling_controls(first or SamplingParams())
                name = gr.Textbox(label=text("presets_name"), placeholder=text("presets_name_ph"), max_lines=1)
                description = gr.Textbox(label=text("presets_description"), max_lines=2,
                                         value=first.description if first else "")
                with gr.Row():
                    save_new = gr.Button(text("presets_save_new"))
                    update = gr.Button(text("presets_update"), interactive=False)
                    delete = gr.Button(text("presets_delete"), variant="stop", interactive=False)
                status = gr.Markdown()

    # UI-only events: preset editing is not part of the public API (/blog, /code, /chat are).
    private: dict[str, Any] = {"api_visibility": "private"}
    choose.change(tab.show, choose, [view, *controls, description, update, delete], queue=False, **private)
    save_new.click(tab.save_as_new, [name, description, state, *controls], [status, choose, state], **private)
    update.click(tab.update_user, [choose, description, state, *controls], [status, view, state], **private)
    delete.click(tab.delete, [choose, state], [status, choose, state], **private)
    reload.click(tab.reload, [choose, state], [status, problems, choose, state], **private)
    apply.click(tab.apply, [choose, state], [status, state], queue=False, **private)


def _bump(signal: dict[str, Any] | None, *, apply: str | None = None) -> dict[str, Any]:
    """A new state value; the serial makes every Apply a change, even of the same preset twice."""
    return {"serial": (signal or {}).get("serial", 0) + 1, "apply": apply}
