"""Presets: YAML files validated on load, bad files reported by name and skipped, user presets saved safely."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from writing.engines.params import SamplingParams
from writing.errors import ParamError, StudioError
from writing.library.presets import (
    BUILTIN_DIR,
    TAB_DEFAULTS,
    Preset,
    PresetError,
    PresetStore,
    default_user_dir,
    parse_preset,
    slugify,
)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    builtin, user = tmp_path / "builtin", tmp_path / "user"
    builtin.mkdir()
    (builtin / "calm.yaml").write_text("name: calm\ndescription: quiet\ntemperature: 0.2\n", encoding="utf-8")
    return builtin, user


def store_with(dirs: tuple[Path, Path], files: dict[str, str | bytes]) -> PresetStore:
    builtin, user = dirs
    user.mkdir(exist_ok=True)
    for name, body in files.items():
        target = user / name
        target.write_bytes(body) if isinstance(body, bytes) else target.write_text(body, encoding="utf-8")
    return PresetStore(builtin_dir=builtin, user_dir=user)


def only_problem(store: PresetStore) -> str:
    assert len(store.problems) == 1, store.problems
    return store.problems[0]


# --- the shipped presets --------------------------------------------------------------------------


def test_shipped_presets_load_without_problems(tmp_path: Path) -> None:
    store = PresetStore(builtin_dir=BUILTIN_DIR, user_dir=tmp_path / "none")
    assert store.problems == []
    assert store.names() == ["balanced", "creative", "precise", "qwen"]
    assert all(store.is_builtin(n) for n in store.names())
    assert all(store.get(n).description for n in store.names())
    assert store.get("creative").temperature == 0.8
    assert store.get("balanced").temperature == 0.7
    assert store.get("precise").temperature == 0.3
    qwen = store.get("qwen").params()
    assert (qwen.temperature, qwen.top_p, qwen.top_k, qwen.min_p) == (0.7, 0.8, 20, 0.0)


def test_tab_defaults_follow_the_contract(tmp_path: Path) -> None:
    store = PresetStore(builtin_dir=BUILTIN_DIR, user_dir=tmp_path / "none")
    assert TAB_DEFAULTS == {"blog": "creative", "longform": "creative", "code": "precise", "chat": "balanced"}
    assert store.for_tab("blog").name == "creative"
    assert store.for_tab("code").name == "precise"
    assert store.for_tab("chat").name == "balanced"


def test_default_user_dir_is_under_the_data_dir(isolated_user_state: Path) -> None:
    assert default_user_dir() == isolated_user_state / "presets"
    store = PresetStore(builtin_dir=BUILTIN_DIR)
    assert store.user_dir == isolated_user_state / "presets"


# --- Preset itself: bounds are SamplingParams' -------------------------------------------------------


def test_preset_fields_share_sampling_params_bounds() -> None:
    for field, info in SamplingParams.model_fields.items():
        mine = Preset.model_fields[field]
        assert (mine.annotation, mine.default, mine.metadata) == (info.annotation, info.default, info.metadata)


def test_preset_params_round_trip() -> None:
    preset = Preset(name="x", temperature=1.1, top_k=5, seed=7)
    params = preset.params()
    assert isinstance(params, SamplingParams)
    assert (params.temperature, params.top_k, params.seed) == (1.1, 5, 7)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2.5, -0.1, True])
def test_preset_refuses_bad_temperature(bad: object) -> None:
    with pytest.raises(ValueError):
        Preset(name="x", temperature=bad)
    with pytest.raises(ParamError) as caught:
        parse_preset({"name": "x", "temperature": bad})
    assert caught.value.field == "temperature"


def test_preset_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError):
        Preset(name="x", temprature=0.5)
    with pytest.raises(ParamError, match="temprature: unknown setting"):
        parse_preset({"name": "x", "temprature": 0.5})


# --- loading: every kind of bad file is reported by name and skipped ------------------------------------


def test_valid_user_preset_loads(dirs) -> None:
    store = store_with(dirs, {"mine.yaml": "name: Mine\ndescription: d\ntemperature: 1.2\ntop_k: 0\nseed: 3\n"})
    assert store.problems == []
    assert store.names() == ["calm", "Mine"]
    assert store.get("mine").temperature == 1.2  # lookup ignores case
    assert not store.is_builtin("Mine")
    assert store.is_builtin("calm")


def test_name_defaults_to_file_stem(dirs) -> None:
    store = store_with(dirs, {"quick.yml": "temperature: 0.4\n"})
    assert store.get("quick").temperature == 0.4


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("name: a\ntemperature: [0.5\n", "malformed YAML (line"),
        ("name: a\n\ttemperature: 0.5\n", "malformed YAML"),
        ("name: a\ntemperature: 9\n", "temperature: must be <= 2.0, got 9"),
        ("name: a\ntop_p: 0\n", "top_p: must be > 0.0"),
        ("name: a\nmax_new_tokens: 0\n", "max_new_tokens: must be >= 1"),
        ("name: a\ntemperature: .nan\n", "temperature: must be a finite number"),
        ("name: a\ntemperature: .inf\n", "temperature: must be a finite number"),
        ("name: a\ntemperature: -.inf\n", "temperature"),
        ("name: a\ntemperature: hot\n", "temperature: expected a number, got 'hot'"),
        ("name: a\ntemperature: yes\n", "temperature: expected a number, got True"),
        ("name: a\ncolour: red\n", "colour: unknown setting"),
        ("name: a\ntemperature: 0.5\ntemperature: 0.6\n", "key 'temperature' appears twice"),
        ("- 0.5\n- 0.6\n", "expected a mapping of settings (name: value), got a list"),
        ("just words\n", "expected a mapping of settings (name: value), got a str"),
        ("", "got an empty file"),
        ("name: a\ndescription: [1, 2]\n", "description: expected text"),
        ("name: 12\n", "name: expected text, got 12"),
        ("name: '   '\n", "name: must not be empty"),
        ("name: ../../etc/passwd\n", "name: must not contain '/'"),
        ("name: ..\\\\x\n", "name: must not contain '/' or '\\'"),
        ('name: "a\\0b"\n', "name: must not contain control"),
        ('name: "a\\u202eb"\n', "name: must not contain control or invisible"),
        ("name: " + "x" * 65 + "\n", "name: must be at most 64 characters, got 65"),
        ("name: '...'\n", "name: must contain a letter or digit"),
        ("!!python/object/apply:os.system ['echo hi']\n", "malformed YAML"),
    ],
)
def test_bad_file_is_reported_by_name_and_skipped(dirs, body: str, expected: str) -> None:
    store = store_with(dirs, {"bad.yaml": body, "good.yaml": "name: good\n"})
    problem = only_problem(store)
    assert problem.startswith("user preset bad.yaml: "), problem
    assert expected in problem
    assert problem.endswith("(skipped)")
    assert store.names() == ["calm", "good"]  # the rest still loads


def test_undecodable_and_huge_files_are_reported(dirs) -> None:
    store = store_with(dirs, {"latin1.yaml": "name: caf\xe9\n".encode("latin-1"), "big.yaml": "#" * 70_000})
    problems = "\n".join(store.problems)
    assert "user preset latin1.yaml: not UTF-8 text" in problems
    assert "user preset big.yaml: file is 70000 bytes" in problems
    assert store.names() == ["calm"]


def test_cjk_name_is_fine(dirs) -> None:
    store = store_with(dirs, {"zh.yaml": "name: 写作·温和\ntemperature: 0.6\n"})
    assert store.problems == []
    assert store.get("写作·温和").temperature == 0.6


def test_name_clash_with_builtin_is_reported(dirs) -> None:
    store = store_with(dirs, {"x.yaml": "name: CALM\ntemperature: 1.5\n"})
    assert "user preset x.yaml: name 'CALM' is already used by a built-in preset (skipped)" == only_problem(store)
    assert store.get("calm").temperature == 0.2  # the built-in wins


def test_name_clash_between_user_files_is_reported(dirs) -> None:
    # NFKC + casefold: full-width letters clash with ASCII ones.
    store = store_with(dirs, {"a.yaml": "name: Fast\n", "b.yaml": "name: ｆａｓｔ\n"})
    assert "user preset b.yaml: name 'ｆａｓｔ' is already used by another file (skipped)" == only_problem(store)


def test_other_files_are_ignored(dirs) -> None:
    store = store_with(dirs, {"notes.txt": "not yaml: [", ".half-written.yaml": "name: [", "ok.yaml": "name: ok\n"})
    assert store.problems == []
    assert store.names() == ["calm", "ok"]


def test_missing_folders_are_not_problems(tmp_path: Path) -> None:
    store = PresetStore(builtin_dir=tmp_path / "a", user_dir=tmp_path / "b")
    assert (store.names(), store.problems) == ([], [])
    with pytest.raises(PresetError, match="no presets loaded"):
        store.for_tab("blog")


def test_unknown_preset_lists_the_available_ones(dirs) -> None:
    store = store_with(dirs, {})
    with pytest.raises(StudioError, match=r"unknown preset 'warm' \(available: calm\)"):
        store.get("warm")


# --- saving and deleting --------------------------------------------------------------------------------


def test_save_reload_delete_round_trip(dirs) -> None:
    builtin, user = dirs
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    preset = Preset(name="My Blog Voice", description="warm", temperature=0.9, top_p=0.95, seed=42)
    path = store.save_user(preset)
    assert path == user / "my-blog-voice.yaml"
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["name"] == "My Blog Voice"
    assert store.get("my blog voice") == preset
    fresh = PresetStore(builtin_dir=builtin, user_dir=user)  # survives a restart
    assert fresh.problems == []
    assert fresh.get("My Blog Voice") == preset
    fresh.delete_user("My Blog Voice")
    assert not path.exists()
    assert fresh.names() == ["calm"]
    with pytest.raises(PresetError, match="no user preset named 'My Blog Voice'"):
        fresh.delete_user("My Blog Voice")


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("../../etc/passwd", None),
        ("写作", "preset"),
        ("CON", "preset-con"),
        ("a" * 64, "a" * 40),
        ("Ünïcödé!", "unicode"),
    ],
)
def test_saved_file_name_is_a_slug_inside_the_user_dir(dirs, name: str, stem: str | None) -> None:
    builtin, user = dirs
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    if stem is None:  # a path-like name is refused before anything is written
        with pytest.raises(ParamError, match="name"):
            store.save_user(parse_preset({"name": name}))
        assert not user.exists() or list(user.iterdir()) == []
        return
    path = store.save_user(Preset(name=name))
    assert path.parent == user
    assert path.name == f"{stem}.yaml"
    assert PresetStore(builtin_dir=builtin, user_dir=user).get(name).name == name


def test_slug_collisions_get_numbered_files(dirs) -> None:
    builtin, user = dirs
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    first = store.save_user(Preset(name="Fast!"))
    second = store.save_user(Preset(name="fast?"))  # a different name with the same slug
    assert (first.name, second.name) == ("fast.yaml", "fast-2.yaml")
    assert sorted(PresetStore(builtin_dir=builtin, user_dir=user).names()) == ["Fast!", "calm", "fast?"]


def test_slugify_never_returns_a_path() -> None:
    for name in ["../x", "a/b", "..", "\\\\server\\share", "C:\\x", "~root", "名前"]:
        slug = slugify(name)
        assert slug and "/" not in slug and "\\" not in slug and ".." not in slug and ":" not in slug


def test_builtins_cannot_be_overwritten_or_deleted(dirs) -> None:
    builtin, user = dirs
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    with pytest.raises(PresetError, match="'Calm' is a built-in preset and cannot be overwritten"):
        store.save_user(Preset(name="Calm", temperature=1.9), overwrite=True)
    with pytest.raises(PresetError, match="'calm' is a built-in preset and cannot be deleted"):
        store.delete_user("calm")
    assert (builtin / "calm.yaml").exists()
    assert store.get("calm").temperature == 0.2
    assert not user.exists()


def test_existing_user_preset_needs_overwrite(dirs) -> None:
    builtin, user = dirs
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    path = store.save_user(Preset(name="mine", temperature=0.5))
    with pytest.raises(PresetError, match="already exists"):
        store.save_user(Preset(name="MINE", temperature=0.6))
    assert store.save_user(Preset(name="mine", temperature=0.6), overwrite=True) == path
    assert PresetStore(builtin_dir=builtin, user_dir=user).get("mine").temperature == 0.6
    assert [p.name for p in user.iterdir()] == ["mine.yaml"]  # no temp files left behind


def test_save_does_not_reuse_a_broken_files_name(dirs) -> None:
    store = store_with(dirs, {"mine.yaml": "name: [broken\n"})
    assert "user preset mine.yaml: malformed YAML" in only_problem(store)
    path = store.save_user(Preset(name="mine"))
    assert path.name == "mine-2.yaml"
    assert (dirs[1] / "mine.yaml").read_text(encoding="utf-8") == "name: [broken\n"  # the user's file is kept


def test_unusable_user_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    store = PresetStore(builtin_dir=BUILTIN_DIR, user_dir=blocker / "presets")
    with pytest.raises(PresetError, match="cannot create the user presets folder"):
        store.save_user(Preset(name="mine"))
    assert store.names() == ["balanced", "creative", "precise", "qwen"]


def test_concurrent_saves_and_reloads_lose_nothing(dirs) -> None:
    builtin, user = dirs
    store = PresetStore(builtin_dir=builtin, user_dir=user)
    names = [f"voice {i}" for i in range(24)]

    def save(name: str) -> None:
        store.save_user(Preset(name=name, temperature=0.5))
        store.reload()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(save, names))
    assert sorted(store.names()) == sorted(["calm", *names])
    fresh = PresetStore(builtin_dir=builtin, user_dir=user)
    assert fresh.problems == [] and len(fresh.names()) == 25
    assert len(list(user.iterdir())) == 24  # no temporary files left
