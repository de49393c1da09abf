"""The "Advanced" panel every generating tab has: sampling values for this tab's runs.

It starts from the tab's preset (blog creative, code precise, chat balanced); a preset dropdown
reloads the sliders, and whatever the sliders say is validated by `make_params` on each run,
so an API caller sending nonsense gets a readable error naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.engines.params import SamplingParams, make_params
from writing.errors import StudioError
from writing.ui.guard import BoundedNumber, BoundedSlider  # API input: errors name the field
from writing.ui.i18n import t

if TYPE_CHECKING:
    from writing.ui.app import UIContext

FIELDS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "max_new_tokens", "seed")


@dataclass
class SamplingPanel:
    preset: gr.Dropdown
    sliders: list[gr.components.Component]  # in FIELDS order; the handlers take them as *values

    @property
    def inputs(self) -> list[gr.components.Component]:
        return list(self.sliders)

    @property
    def max_new_tokens(self) -> gr.components.Component:
        return self.sliders[FIELDS.index("max_new_tokens")]


def _values(params: SamplingParams) -> list[Any]:
    return [params.temperature, params.top_p, params.top_k, params.min_p, params.repetition_penalty,
            params.presence_penalty, params.max_new_tokens, -1 if params.seed is None else params.seed]


def build_sampling_panel(ctx: UIContext, *, tab: str, max_new_tokens: int | None = None) -> SamplingPanel:
    """The accordion, closed by default. `max_new_tokens` overrides the preset's (e.g. from the brief)."""
    preset = ctx.presets.for_tab(tab)
    start = preset.params()
    if max_new_tokens is not None:
        start = start.merged(max_new_tokens=max_new_tokens)
    values = _values(start)
    top = max(4096, min(ctx.engine.context, 32768))
    with gr.Accordion(t("advanced"), open=False):
        gr.Markdown(t("advanced_info"), elem_classes="studio-note")
        choose = gr.Dropdown(ctx.presets.names(), value=preset.name, label=t("preset"), interactive=True)
        with gr.Row():
            sliders: list[gr.components.Component] = [
                BoundedSlider(0.0, 2.0, value=values[0], step=0.05, label=t("temperature")),
                BoundedSlider(0.05, 1.0, value=values[1], step=0.05, label=t("top_p")),
                BoundedSlider(0, 200, value=values[2], step=1, label=t("top_k")),
                BoundedSlider(0.0, 1.0, value=values[3], step=0.01, label=t("min_p")),
            ]
        with gr.Row():
            sliders += [
                BoundedSlider(0.5, 2.0, value=values[4], step=0.01, label=t("repetition_penalty")),
                BoundedSlider(-2.0, 2.0, value=values[5], step=0.05, label=t("presence_penalty")),
                BoundedSlider(16, top, value=min(values[6], top), step=16, label=t("max_new_tokens")),
                BoundedNumber(value=values[7], precision=0, label=t("seed")),
            ]

    def load(name: str) -> list[Any]:
        try:
            return _values(ctx.presets.get(name).params())
        except StudioError as exc:
            raise gr.Error(str(exc)) from None

    choose.change(load, choose, sliders, queue=False, api_visibility="private")
    _follow_presets_tab(ctx, choose, tab=tab)
    return SamplingPanel(preset=choose, sliders=sliders)


def _follow_presets_tab(ctx: UIContext, dropdown: gr.Dropdown, *, tab: str) -> None:
    """The Presets tab's Apply / save / delete update this dropdown (writing/ui/tabs/presets.py)."""
    from writing.ui.tabs.presets import follow_applied

    follow_applied(ctx, dropdown, tab=tab)


def params_from(values: tuple[Any, ...] | list[Any]) -> SamplingParams:
    """Slider values (FIELDS order) -> SamplingParams; bad input raises gr.Error naming the field."""
    data = dict(zip(FIELDS, values, strict=True))
    seed = data.get("seed")
    if seed is None or (isinstance(seed, int | float) and -1e18 < seed < 0):  # -inf stays an error
        data["seed"] = None
    elif isinstance(seed, float) and seed.is_integer():
        data["seed"] = int(seed)
    for key in ("top_k", "max_new_tokens"):
        if isinstance(data.get(key), float) and data[key].is_integer():
            data[key] = int(data[key])
    try:
        return make_params(data)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
