"""Prompt templates as data: writing/compose/prompt_templates/<name>.yaml -> chat messages.

A template file (validated on load; a broken one raises PromptError naming the file and the key):

    description: what the prompt is for
    vars: [topic, words]          # required variables; every $placeholder must be declared, and used
    system: |                     # string.Template text: $var or ${var}; $$ is a literal dollar
      You are ...
    user: |                       # optional; without it render() returns only the system message
      Write about $topic in about $words words.
    defaults:                     # optional: text used when a variable is passed but empty
      words: "800"
    language_var: language        # optional: the variable naming the answer language; "auto" (or empty)
                                  # means "the language of the brief", the text of the `detect` variables
    detect: [topic]               # optional: the variables whose language decides the prompt's language
                                  # (default: all of them)
    auto_language: the language of the topic   # what $language says when it is "auto"
    zh:                           # optional Simplified Chinese variant, same keys as above except vars/
      system: ...                 # language_var/detect; used when the answer language is Chinese or the
      user: ...                   # brief is written in Chinese, so a Chinese brief gets Chinese instructions

render(name, /, **variables) substitutes with string.Template.substitute: a missing or unknown variable is
a PromptError naming it, never a silent blank. Lists are joined with commas; numbers become text.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from writing.compose.language import AUTO, CHINESE, ENGLISH, asked_language, wants_chinese
from writing.errors import StudioError

TEMPLATE_DIR = Path(__file__).resolve().parent / "prompt_templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PromptError(StudioError):
    """A prompt template is unknown or broken, or render() got a missing, unknown or unusable variable."""


class Variant(BaseModel):
    """The text of a template in one language."""

    model_config = ConfigDict(extra="forbid", strict=True)

    system: str = Field(min_length=1)
    user: str = ""
    defaults: dict[str, str] = Field(default_factory=dict)
    auto_language: str = ""

    def placeholders(self) -> set[str]:
        found: set[str] = set()
        for key in ("system", "user"):
            template = string.Template(getattr(self, key))
            if not template.is_valid():
                raise ValueError(f"{key}: a '$' that starts no placeholder (write $$ for a literal dollar sign)")
            found.update(template.get_identifiers())
        return found


class PromptTemplate(Variant):
    description: str = ""
    vars: list[str] = Field(default_factory=list)
    language_var: str | None = None
    detect: list[str] | None = None
    zh: Variant | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PromptTemplate:
        declared = set(self.vars)
        if len(declared) != len(self.vars):
            raise ValueError(f"vars: a name is listed twice in {self.vars}")
        bad = [v for v in self.vars if not _IDENT.match(v)]
        if bad:
            raise ValueError(f"vars: not valid variable names: {bad}")
        for label, variant in (("", self), ("zh.", self.zh)):
            if variant is None:
                continue
            used = variant.placeholders()
            if used - declared:
                raise ValueError(f"{label}system/user use undeclared variables {sorted(used - declared)} "
                                 f"(declared vars: {sorted(declared)})")
            if declared - used:
                raise ValueError(f"{label}system/user never use declared variables {sorted(declared - used)}")
            if set(variant.defaults) - declared:
                raise ValueError(f"{label}defaults: not declared in vars: {sorted(set(variant.defaults) - declared)}")
        if self.language_var is not None and self.language_var not in declared:
            raise ValueError(f"language_var: {self.language_var!r} is not declared in vars")
        if self.detect is not None and set(self.detect) - declared:
            raise ValueError(f"detect: not declared in vars: {sorted(set(self.detect) - declared)}")
        return self


def template_names(directory: Path = TEMPLATE_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml") if _NAME.match(p.stem))


def load_template(path: Path) -> PromptTemplate:
    """Read and validate one template file. Errors name the file and the offending key."""
    label = f"prompt template {path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{label}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise PromptError(f"{label}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PromptError(f"{label}: expected a mapping with system/user/vars, got {type(data).__name__}")
    try:
        return PromptTemplate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key (allowed: " + ", ".join(PromptTemplate.model_fields) + ")"
        raise PromptError(f"{label}: {where + ': ' if where else ''}{message}") from None


@functools.lru_cache(maxsize=64)
def get_template(name: str, directory: Path = TEMPLATE_DIR) -> PromptTemplate:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PromptError(f"invalid prompt template name {name!r}")
    path = directory / f"{name}.yaml"
    if not path.is_file():
        raise PromptError(f"unknown prompt template {name!r} (available: {', '.join(template_names(directory))})")
    return load_template(path)


def render(name: str, /, **variables: Any) -> list[dict[str, str]]:
    """Chat messages [system, user] (or [system] for a system-only template) for `name`."""
    return render_template(get_template(name), name=name, variables=variables)


def render_template(template: PromptTemplate, *, name: str, variables: Mapping[str, Any]) -> list[dict[str, str]]:
    declared = template.vars
    missing = [v for v in declared if v not in variables]
    if missing:
        raise PromptError(f"prompt {name!r}: missing variable {', '.join(missing)} (needs: {', '.join(declared)})")
    unknown = sorted(set(variables) - set(declared))
    if unknown:
        raise PromptError(f"prompt {name!r}: unknown variable {', '.join(unknown)} (needs: {', '.join(declared)})")
    chinese = template.zh is not None and _wants_chinese(template, variables)
    variant: Variant = template.zh if chinese and template.zh is not None else template
    values = {key: _as_text(name, key, value, chinese=chinese) for key, value in variables.items()}
    for key, text in values.items():
        if not text.strip():
            values[key] = variant.defaults.get(key, "")
    if template.language_var is not None:
        asked = asked_language(values[template.language_var])
        if asked in AUTO:
            values[template.language_var] = variant.auto_language or "the language of the brief"
        elif asked in CHINESE:
            values[template.language_var] = "简体中文" if chinese else "Simplified Chinese"
        elif asked in ENGLISH:
            values[template.language_var] = "English"
    messages = [{"role": "system", "content": _substitute(name, variant.system, values)}]
    if variant.user.strip():
        messages.append({"role": "user", "content": _substitute(name, variant.user, values)})
    return messages


def _wants_chinese(template: PromptTemplate, variables: Mapping[str, Any]) -> bool:
    keys = template.detect if template.detect is not None else template.vars
    brief = "\n".join(_plain(variables.get(key)) for key in keys)
    language = variables.get(template.language_var) if template.language_var is not None else "auto"
    return wants_chinese(language, brief)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return " ".join(str(v) for v in value)
    return ""


def _as_text(name: str, key: str, value: Any, *, chinese: bool) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        raise PromptError(f"prompt {name!r}: variable {key} must be text or a number, got {value!r}")
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return ("、" if chinese else ", ").join(v.strip() for v in value if v.strip())
    raise PromptError(f"prompt {name!r}: variable {key} must be text, a number or a list of text, "
                      f"got {type(value).__name__}")


def _substitute(name: str, text: str, values: Mapping[str, str]) -> str:
    try:
        return string.Template(text).substitute(values).strip()
    except (KeyError, ValueError) as exc:  # unreachable after validation; kept loud on purpose
        raise PromptError(f"prompt {name!r}: cannot fill placeholder {exc}") from None
