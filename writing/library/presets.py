"""Sampling presets: named SamplingParams stored as YAML.

Built-in presets ship in `presets/*.yaml`; user presets belong to their login and live in
`<data dir>/presets/` (no login: "local") or `<data dir>/presets/users/<name>-<hash>/`. Every file is
validated on load (bounds shared with SamplingParams, unknown keys refused); a bad file is reported by
name in `PresetStore.problems` and skipped, never a crash. A preset's name is data shown to people:
the file it is saved to gets a sanitised slug, never a path taken from user input.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from writing.engines.params import SamplingParams, make_params
from writing.errors import ParamError, StudioError
from writing.library.paths import resolve_data_dir

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "presets"
NAME_MAX = 64
DESCRIPTION_MAX = 500
FILE_MAX_BYTES = 64 * 1024  # a preset is a dozen lines; anything bigger is not one
SUFFIXES = (".yaml", ".yml")

# Which preset each tab starts with (contract: blog/long-form creative, code precise, chat balanced).
TAB_DEFAULTS = {"blog": "creative", "longform": "creative", "code": "precise", "chat": "balanced"}

_SAMPLING = SamplingParams.model_fields
_META_KEYS = ("name", "description")


class PresetError(StudioError):
    """A preset cannot be found, saved or deleted; the message says which one and why."""


class Preset(BaseModel):
    """A named set of sampling values. The bounds are SamplingParams' own field definitions."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)

    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str = Field("", max_length=DESCRIPTION_MAX)
    # Reusing SamplingParams' FieldInfo objects keeps one copy of every bound and default.
    temperature: float = _SAMPLING["temperature"]
    top_p: float = _SAMPLING["top_p"]
    top_k: int = _SAMPLING["top_k"]
    min_p: float = _SAMPLING["min_p"]
    repetition_penalty: float = _SAMPLING["repetition_penalty"]
    presence_penalty: float = _SAMPLING["presence_penalty"]
    max_new_tokens: int = _SAMPLING["max_new_tokens"]
    seed: int | None = _SAMPLING["seed"]

    @field_validator(*_SAMPLING, mode="before")
    @classmethod
    def _no_bools(cls, value: Any) -> Any:
        # bool is an int subclass: `temperature: yes` in YAML is a mistake, not 1.0.
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return value

    @field_validator("name")
    @classmethod
    def _sane_name(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip()

    def params(self) -> SamplingParams:
        return SamplingParams(**self.model_dump(exclude=set(_META_KEYS)))

    @property
    def key(self) -> str:
        return name_key(self.name)


def name_key(name: str) -> str:
    """Names compare case- and width-insensitively: 'Creative' and 'ｃｒｅａｔｉｖｅ' clash."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def name_problem(name: Any) -> str | None:
    """Why `name` cannot be a preset name, or None. CJK and other scripts are fine."""
    if not isinstance(name, str):
        return f"expected text, got {name!r}"
    stripped = name.strip()
    if not stripped:
        return "must not be empty"
    if len(stripped) > NAME_MAX:
        return f"must be at most {NAME_MAX} characters, got {len(stripped)}"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in stripped):
        return "must not contain control or invisible characters"
    if "/" in stripped or "\\" in stripped:
        return "must not contain '/' or '\\'"
    if not any(ch.isalnum() for ch in stripped):
        return "must contain a letter or digit"
    return None


def parse_preset(data: Any, *, default_name: str | None = None) -> Preset:
    """Validate untrusted preset data (a loaded YAML file, UI values). Raises ParamError naming the field."""
    if not isinstance(data, Mapping):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ParamError("file", f"expected a mapping of settings (name: value), got {kind}")
    values = dict(data)
    name = values.pop("name", default_name)
    problem = name_problem(name)
    if problem:
        raise ParamError("name", problem)
    description = values.pop("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ParamError("description", f"expected text, got {description!r}")
    if len(description) > DESCRIPTION_MAX:
        raise ParamError("description", f"must be at most {DESCRIPTION_MAX} characters, got {len(description)}")
    # The sampling values go through make_params: same bounds, same readable messages as the API.
    params = make_params(values)
    return Preset(name=name, description=description, **params.model_dump())


def default_user_dir() -> Path:
    """`<data dir>/presets` (data dir rules: writing/library/paths.py); created on the first save."""
    return resolve_data_dir() / "presets"


def slugify(name: str) -> str:
    """A safe file stem for a display name: lowercase ASCII letters, digits and '-'; never a path."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    if not slug or slug.upper() in _WINDOWS_RESERVED:
        slug = f"preset-{slug}" if slug else "preset"
    return slug


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


class _StrictLoader(yaml.SafeLoader):
    """safe_load, except a key given twice is an error instead of silently keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float):
                continue  # unhashable keys are SafeLoader's to report
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_preset_file(path: Path) -> Preset:
    """Read and validate one preset file. Raises ParamError (field problems) or PresetError (file problems)."""
    try:
        size = path.stat().st_size
        if size > FILE_MAX_BYTES:
            raise PresetError(f"file is {size} bytes; a preset file must be under {FILE_MAX_BYTES}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PresetError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise PresetError(f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: plain data only, no objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PresetError(f"malformed YAML{where}: {problem}") from None
    return parse_preset(data, default_name=path.stem)


LOCAL = "local"  # the user without a login (writing/ui/context.py)


def user_folder(root: Path, user: str) -> Path:
    """Where `user`'s presets live: the root itself for "local" (no login: where presets always were), else
    `<root>/users/<slug>-<hash>`: a safe name (never a path from input) that two logins never share."""
    if user == LOCAL:
        return root
    digest = hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return root / "users" / f"{slugify(user)[:24]}-{digest}"


class _UserPresets:
    """One user's presets as loaded from their folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.presets: dict[str, Preset] = {}  # name_key -> preset
        self.paths: dict[str, Path] = {}
        self.problems: list[str] = []


class PresetStore:
    """Built-in presets (read-only, shared) plus every user's own presets (saved, deleted), per login.

    Like drafts, user presets belong to the login that saved them: every method takes `user` (the
    login name; "local" without a login, the default), and one user's presets are invisible to every
    other user, who can neither read, overwrite nor delete them (the same name may exist for both).
    `user=None` means the built-ins only (what a page shows before it knows who is looking).
    Safe to share between threads.
    """

    def __init__(self, *, builtin_dir: Path = BUILTIN_DIR, user_dir: Path | None = None):
        self.builtin_dir = Path(builtin_dir)
        self.user_dir = Path(user_dir) if user_dir is not None else default_user_dir()  # the root; "local"'s
        self._lock = threading.RLock()
        self._builtin_presets: dict[str, Preset] = {}
        self._builtin_problems: list[str] = []
        self._users: dict[str, _UserPresets] = {}
        self.reload()

    @property
    def _builtin(self) -> set[str]:
        return set(self._builtin_presets)

    @property
    def problems(self) -> list[str]:
        """The last reload's problems for the user "local": one readable line per skipped file."""
        return self.problems_of(LOCAL)

    def problems_of(self, user: str | None) -> list[str]:
        with self._lock:
            mine = self._user(user).problems if user is not None else []
            return [*self._builtin_problems, *mine]

    def folder_of(self, user: str) -> Path:
        return user_folder(self.user_dir, _check_owner(user))

    def reload(self, user: str | None = LOCAL) -> list[str]:
        """Re-read the built-ins and `user`'s folder. Bad files are skipped and described; returns the problems."""
        with self._lock:  # a handful of tiny files: holding the lock keeps a concurrent save from being lost
            self._load_builtins()
            if user is not None:
                self._users.pop(_check_owner(user), None)
            return self.problems_of(user)

    def _load_builtins(self) -> None:
        presets: dict[str, Preset] = {}
        problems: list[str] = []
        for path in _preset_files(self.builtin_dir, problems, "built-in"):
            label = f"built-in preset {path.name}"
            try:
                preset = load_preset_file(path)
            except StudioError as exc:
                problems.append(f"{label}: {exc} (skipped)")
                continue
            if preset.key in presets:
                problems.append(f"{label}: name {preset.name!r} is already used by another file (skipped)")
                continue
            presets[preset.key] = preset
        self._builtin_presets, self._builtin_problems = presets, problems

    def _user(self, user: str) -> _UserPresets:
        """`user`'s presets, read from their folder the first time (call with the lock held)."""
        user = _check_owner(user)
        loaded = self._users.get(user)
        if loaded is None:
            loaded = self._users[user] = self._load_user(user_folder(self.user_dir, user))
        return loaded

    def _load_user(self, folder: Path) -> _UserPresets:
        mine = _UserPresets(folder)
        for path in _preset_files(folder, mine.problems, "user"):
            label = f"user preset {path.name}"
            try:
                preset = load_preset_file(path)
            except StudioError as exc:
                mine.problems.append(f"{label}: {exc} (skipped)")
                continue
            key = preset.key
            if key in self._builtin_presets or key in mine.presets:
                owner = "a built-in preset" if key in self._builtin_presets else "another file"
                mine.problems.append(f"{label}: name {preset.name!r} is already used by {owner} (skipped)")
                continue
            mine.presets[key] = preset
            mine.paths[key] = path
        return mine

    def names(self, user: str | None = LOCAL) -> list[str]:
        """Built-in names (in file-name order), then `user`'s own names (alphabetical)."""
        with self._lock:
            built = [p.name for p in self._builtin_presets.values()]
            mine = list(self._user(user).presets.values()) if user is not None else []
        return built + sorted((p.name for p in mine), key=name_key)

    def get(self, name: str, user: str | None = LOCAL) -> Preset:
        key = name_key(name) if isinstance(name, str) else ""
        with self._lock:
            preset = self._builtin_presets.get(key)
            if preset is None and user is not None:
                preset = self._user(user).presets.get(key)
        if preset is None:
            raise PresetError(f"unknown preset {name!r} (available: {', '.join(self.names(user)) or 'none'})")
        return preset

    def for_tab(self, tab: str, user: str | None = LOCAL) -> Preset:
        """The preset a tab starts with; falls back to the first preset if its default was removed."""
        default = TAB_DEFAULTS.get(tab, "balanced")
        names = self.names(user)
        if default in (name_key(n) for n in names):
            return self.get(default, user)
        if not names:
            raise PresetError(f"no presets loaded; problems: {'; '.join(self.problems_of(user)) or 'none'}")
        return self.get(names[0], user)

    def is_builtin(self, name: str) -> bool:
        with self._lock:
            return isinstance(name, str) and name_key(name) in self._builtin_presets

    def save_user(self, preset: Preset, *, overwrite: bool = False, user: str = LOCAL) -> Path:
        """Write one of `user`'s presets atomically. A built-in name is refused; an existing name of this
        user needs overwrite. Other users' presets are never touched (their names are free to reuse)."""
        if not isinstance(preset, Preset):
            preset = parse_preset(preset)
        key = preset.key
        with self._lock:
            if key in self._builtin_presets:
                raise PresetError(
                    f"{preset.name!r} is a built-in preset and cannot be overwritten: save it under another name"
                )
            mine = self._user(user)
            path = mine.paths.get(key)
            if path is not None and not overwrite:
                raise PresetError(f"a user preset named {preset.name!r} already exists: choose another name")
            if path is None and overwrite:
                raise PresetError(f"no user preset named {preset.name!r} (your presets: "
                                  f"{_names(mine) or 'none'}): use Save as new preset")
            if path is None:
                path = _free_path(mine.folder, slugify(preset.name))
            try:
                mine.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PresetError(f"cannot create the user presets folder {mine.folder}: {exc.strerror or exc}") \
                    from None
            _write_atomic(path, _dump(preset))
            mine.presets[key] = preset
            mine.paths[key] = path
        return path

    def delete_user(self, name: str, *, user: str = LOCAL) -> None:
        key = name_key(name) if isinstance(name, str) else ""
        with self._lock:
            if key in self._builtin_presets:
                raise PresetError(f"{name!r} is a built-in preset and cannot be deleted")
            mine = self._user(user)
            path = mine.paths.get(key)
            if path is None:
                raise PresetError(f"no user preset named {name!r} (your presets: {_names(mine) or 'none'})")
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise PresetError(f"could not delete {path.name}: {exc.strerror or exc}") from None
            del mine.presets[key]
            del mine.paths[key]


def _check_owner(user: object) -> str:
    if not isinstance(user, str) or not user:
        raise PresetError("a user preset needs its owner (the logged-in name, or 'local')")
    return user


def _names(mine: _UserPresets) -> str:
    return ", ".join(p.name for p in mine.presets.values())


def _free_path(folder: Path, slug: str) -> Path:
    """`slug.yaml`, or `slug-2.yaml`, ... when another preset's file (even a broken one) has that name."""
    taken = {p.name.casefold() for p in folder.glob("*")} if folder.is_dir() else set()
    candidate, n = f"{slug}.yaml", 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{slug}-{n}.yaml"
    return folder / candidate


def _preset_files(folder: Path, problems: list[str], origin: str) -> list[Path]:
    if not folder.is_dir():
        return []
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        problems.append(f"{origin} presets folder {folder}: cannot list: {exc.strerror or exc}")
        return []
    # Hidden files are skipped: they include our own half-written temporary files.
    return [p for p in entries if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()]


def _dump(preset: Preset) -> str:
    data = preset.model_dump()
    header = "# Writing Studio preset. Edit the values or delete the file; bad values are reported on load.\n"
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file + rename so a crash never leaves a half-written preset."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PresetError(f"could not save preset to {path.name}: {exc.strerror or exc}") from None
