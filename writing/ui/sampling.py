"""Sampling controls, derived from SamplingParams' own fields and bounds: the one way sliders become
SamplingParams.

Two places show them: the "Advanced" panel every generating tab has (`build_sampling_panel`: starts
from the tab's preset, blog creative, code precise, chat balanced; a preset dropdown reloads the
sliders) and the Presets tab's editor (`sampling_controls`). Whatever the controls send is validated
by `make_params`, so an API caller sending nonsense gets a readable error naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
from pydantic.fields import FieldInfo

from writing.engines.params import SamplingParams, make_params
from writing.errors import StudioError
from writing.library.presets import Preset
from writing.ui.guard import BoundedNumber, BoundedSlider  # API input: errors name the field
from writing.ui.i18n import t
from writing.ui.preset_link import follow_applied

if TYPE_CHECKING:
    from writing.ui.context import UIContext

FIELDS: tuple[str, ...] = tuple(SamplingParams.model_fields)
STEPS = {"temperature": 0.05, "top_p": 0.01, "top_k": 1, "min_p": 0.01, "repetition_penalty": 0.01,
         "presence_penalty": 0.05, "max_new_tokens": 1}
_INTEGERS = ("top_k", "max_new_tokens", "seed")  # sliders and number boxes send 20.0 for 20


def bounds(name: str) -> tuple[float, float]:
    """A field's [low, high] from SamplingParams' own constraints (an open bound moves in by one step)."""
    info: FieldInfo = SamplingParams.model_fields[name]
    low, high = float("-inf"), float("inf")
    step = STEPS.get(name, 1)
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


def control_values(values: SamplingParams | Preset) -> list[Any]:
    """Values as the controls show them, in FIELDS order (a random seed shows as -1)."""
    shown = [getattr(values, name) for name in FIELDS]
    shown[FIELDS.index("seed")] = -1 if values.seed is None else values.seed
    return shown


def sampling_controls(values: SamplingParams | Preset, *, max_tokens_cap: int | None = None,
                      ) -> list[gr.components.Component]:
    """One control per SamplingParams field, in FIELDS order, set to `values` (two rows of four).

    `max_tokens_cap` lowers the max_new_tokens slider's top (the Advanced panel: about the context).
    """
    controls: list[gr.components.Component] = []
    shown = control_values(values)
    for row in (FIELDS[:4], FIELDS[4:]):
        with gr.Row():
            for name in row:
                controls.append(_control(name, shown[FIELDS.index(name)], max_tokens_cap=max_tokens_cap))
    return controls


def _control(name: str, value: Any, *, max_tokens_cap: int | None) -> gr.components.Component:
    low, high = bounds(name)
    if name == "seed":  # a number box: the range is too wide for a slider; any negative = random
        return BoundedNumber(value=value, precision=0, maximum=high, label=t(name), min_width=160)
    if name == "max_new_tokens" and max_tokens_cap is not None:
        high = min(high, max_tokens_cap)
        value = min(value, high)
    return BoundedSlider(low, high, value=value, step=STEPS[name], label=t(name), min_width=160)


def values_dict(values: Sequence[Any]) -> dict[str, Any]:
    """Control values (FIELDS order) -> a dict for make_params. An empty or negative seed means random."""
    if len(values) != len(FIELDS):
        raise StudioError(f"expected {len(FIELDS)} sampling values ({', '.join(FIELDS)}), got {len(values)}")
    data = dict(zip(FIELDS, values, strict=True))
    for key in _INTEGERS:
        # A real fraction (top_k 2.5) still fails validation in make_params.
        if isinstance(data[key], float) and data[key].is_integer():
            data[key] = int(data[key])
    seed = data["seed"]
    # -inf (and absurd negatives) stay errors; -1 and other small negatives mean "random".
    if seed in ("", None) or (isinstance(seed, int | float) and not isinstance(seed, bool) and -1e18 < seed < 0):
        data["seed"] = None
    return data


def params_from_values(*values: Any) -> SamplingParams:
    """Control values -> SamplingParams; bad values raise ParamError naming the field."""
    return make_params(values_dict(values))


def params_from(values: Sequence[Any]) -> SamplingParams:
    """The same, for event handlers: bad input raises gr.Error naming the field."""
    try:
        return params_from_values(*values)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None


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


def build_sampling_panel(ctx: UIContext, *, tab: str, max_new_tokens: int | None = None) -> SamplingPanel:
    """The accordion, closed by default. `max_new_tokens` overrides the preset's (e.g. from the brief)."""
    preset = ctx.presets.for_tab(tab, None)  # built before anyone is known: built-ins; each page loads its user's
    start = preset.params()
    if max_new_tokens is not None:
        start = start.merged(max_new_tokens=max_new_tokens)
    cap = max(4096, min(ctx.engine.context, 32768))
    with gr.Accordion(t("advanced"), open=False):
        gr.Markdown(t("advanced_info"), elem_classes="studio-note")
        choose = gr.Dropdown(ctx.presets.names(None), value=preset.name, label=t("preset"), interactive=True)
        sliders = sampling_controls(start, max_tokens_cap=cap)

    def load(name: str, request: gr.Request) -> list[Any]:
        try:
            return control_values(ctx.presets.get(name, ctx.user_of(request)).params())
        except StudioError as exc:
            raise gr.Error(str(exc)) from None

    choose.change(load, choose, sliders, queue=False, api_visibility="private")
    follow_applied(ctx.presets, choose, tab=tab, user_of=ctx.user_of)
    return SamplingPanel(preset=choose, sliders=sliders)
