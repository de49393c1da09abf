"""SamplingParams: the only way numbers reach the model. Validated, bounded and finite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from writing.errors import ParamError

# Qwen3-4B-Instruct-2507 model card defaults.
QWEN_DEFAULTS = {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0}


class SamplingParams(BaseModel):
    """How to sample. `temperature == 0` means greedy decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)

    temperature: float = Field(0.7, ge=0.0, le=2.0, description="0 = greedy; higher = more varied")
    top_p: float = Field(0.8, gt=0.0, le=1.0, description="nucleus sampling mass")
    top_k: int = Field(20, ge=0, le=1000, description="0 = off")
    min_p: float = Field(0.0, ge=0.0, le=1.0, description="drop tokens below min_p * p(best)")
    repetition_penalty: float = Field(1.0, ge=0.5, le=2.0, description="1.0 = off")
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0, description="0 = off")
    max_new_tokens: int = Field(512, ge=1, le=32768, description="upper bound on new tokens")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="fixed seed for repeatable runs")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def merged(self, **overrides: Any) -> SamplingParams:
        """A validated copy with some fields replaced (None values are ignored)."""
        values = self.model_dump()
        values.update({key: value for key, value in overrides.items() if value is not None})
        return make_params(values)


def make_params(values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> SamplingParams:
    """Build SamplingParams from untrusted input; errors name the field and the allowed range."""
    data = dict(values or {})
    data.update(kwargs)
    for key, value in data.items():
        # bool is an int subclass in Python; True as "max_new_tokens" is a client bug, not 1.
        if isinstance(value, bool):
            raise ParamError(key, f"expected a number, got {value!r}")
    try:
        return SamplingParams.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "params"
        raise ParamError(field, _explain(first)) from None


def _explain(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    given = error.get("input")
    if kind == "extra_forbidden":
        allowed = ", ".join(SamplingParams.model_fields)
        return f"unknown setting (allowed: {allowed})"
    if kind == "finite_number":
        return f"must be a finite number, got {given!r}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}, got {given!r}"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return f"expected a number, got {given!r}"
    return str(error.get("msg", "invalid value"))
