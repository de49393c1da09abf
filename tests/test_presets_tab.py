"""The Presets tab's handlers and the per-tab preset picker (gradio components, no browser needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from writing.engines.params import SamplingParams
from writing.errors import ParamError, StudioError
from writing.library.presets import BUILTIN_DIR, PresetStore
from writing.ui.preset_link import follow, follow_applied
from writing.ui.sampling import FIELDS, bounds, control_values, params_from_values, values_dict
from writing.ui.tabs.presets import PresetsTab, build_presets_tab

# Control values in FIELDS order, as the sliders / number boxes send them (seed -1 = random).
WARM = [0.95, 0.9, 40.0, 0.05, 1.1, 0.2, 700.0, -1]


@pytest.fixture
def store(tmp_path: Path) -> PresetStore:
    return PresetStore(builtin_dir=BUILTIN_DIR, user_dir=tmp_path / "user")


@pytest.fixture
def tab(store: PresetStore) -> PresetsTab:
    return PresetsTab(store)


def is_skip(value: object) -> bool:
    return value == {"__type__": "update"}


def test_control_bounds_come_from_sampling_params() -> None:
    assert bounds("temperature") == (0.0, 2.0)
    assert bounds("top_p") == (0.01, 1.0)  # top_p > 0: the open bound moves in one slider step
    assert bounds("top_k") == (0, 1000)
    assert bounds("seed") == (0, 2**32 - 1)
    assert FIELDS == tuple(SamplingParams.model_fields)


def test_values_become_params() -> None:
    params = params_from_values(*WARM)
    assert (params.top_k, params.max_new_tokens, params.seed) == (40, 700, None)
    assert isinstance(params.top_k, int)
    for random in ("", None, -1, -1.0):
        assert values_dict([*WARM[:-1], random])["seed"] is None
    assert values_dict([*WARM[:-1], 7.0])["seed"] == 7
    assert control_values(SamplingParams(seed=None))[-1] == -1
    assert control_values(SamplingParams(seed=5))[-1] == 5


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ParamError, match="temperature: must be <= 2.0"):
        params_from_values(5.0, *WARM[1:])
    with pytest.raises(ParamError, match="top_k"):
        params_from_values(WARM[0], WARM[1], 2.5, *WARM[3:])
    with pytest.raises(StudioError, match="expected 8 sampling values"):
        params_from_values(0.7)


def test_show_builtin_disables_update_and_delete(tab: PresetsTab) -> None:
    view, *rest = tab.show("qwen")
    controls, description, update, delete = rest[: len(FIELDS)], rest[-3], rest[-2], rest[-1]
    assert "### qwen" in view and "built-in" in view and "| top_k | `20` |" in view
    assert controls[:4] == [0.7, 0.8, 20, 0.0]
    assert "model card" in description
    assert update["interactive"] is False and delete["interactive"] is False


def test_show_unknown_preset_is_a_message(tab: PresetsTab) -> None:
    result = tab.show("gone")
    assert result[0].startswith("⚠ unknown preset 'gone'")
    assert len(result) == len(FIELDS) + 4


def test_save_update_delete_round_trip(tab: PresetsTab, store: PresetStore) -> None:
    status, choices, signal = tab.save_as_new("Warm voice", "for essays", {"serial": 3, "apply": None}, *WARM)
    assert status == "✓ Saved **Warm voice** (warm-voice.yaml)."
    assert choices["value"] == "Warm voice"
    assert choices["choices"] == ["balanced", "creative", "precise", "qwen", "Warm voice"]
    assert signal == {"serial": 4, "apply": None}  # pickers refresh their lists, nobody switches
    assert (store.user_dir / "warm-voice.yaml").is_file()
    assert store.get("warm voice").params() == params_from_values(*WARM)

    view, *rest = tab.show("Warm voice")
    assert rest[-2]["interactive"] is True and rest[-1]["interactive"] is True

    status, view, signal = tab.update_user("Warm voice", "calmer", signal, 0.5, *WARM[1:])
    assert status == "✓ Updated **Warm voice**."
    assert "calmer" not in view  # a description is plain text: shown in its Textbox, never in the Markdown card
    saved = PresetStore(builtin_dir=BUILTIN_DIR, user_dir=store.user_dir).get("Warm voice")
    assert saved.temperature == 0.5 and saved.description == "calmer"

    status, choices, signal = tab.delete("Warm voice", signal)
    assert status == "✓ Deleted **Warm voice**."
    assert choices["value"] == "balanced" and "Warm voice" not in choices["choices"]
    assert signal["serial"] == 6
    assert not (store.user_dir / "warm-voice.yaml").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "⚠ Not saved: name: must not be empty"),
        ("../../evil", "⚠ Not saved: name: must not contain '/'"),
        ("creative", "⚠ Not saved: 'creative' is a built-in preset and cannot be overwritten"),
    ],
)
def test_save_refusals_write_nothing(tab: PresetsTab, store: PresetStore, name: str, expected: str) -> None:
    status, choices, signal = tab.save_as_new(name, "", None, *WARM)
    assert status.startswith(expected), status
    assert is_skip(choices) and is_skip(signal)
    assert not store.user_dir.exists()


def test_save_refuses_out_of_range_values(tab: PresetsTab, store: PresetStore) -> None:
    status, *_ = tab.save_as_new("hot", "", None, 3.0, *WARM[1:])
    assert status == "⚠ Not saved: temperature: must be <= 2.0, got 3.0"
    assert not store.user_dir.exists()


def test_builtins_cannot_be_updated_or_deleted(tab: PresetsTab, store: PresetStore) -> None:
    status, view, signal = tab.update_user("precise", "", None, *WARM)
    assert status.startswith("⚠ Not saved: 'precise' is a built-in preset")
    status, choices, signal = tab.delete("precise", None)
    assert status == "⚠ 'precise' is a built-in preset and cannot be deleted"
    assert store.get("precise").temperature == 0.3


def test_reload_reports_bad_files(tab: PresetsTab, store: PresetStore) -> None:
    store.user_dir.mkdir()
    (store.user_dir / "broken.yaml").write_text("name: x\ntemperature: lots\n", encoding="utf-8")
    (store.user_dir / "fine.yaml").write_text("name: fine\ntop_k: 5\n", encoding="utf-8")
    status, problems, choices, signal = tab.reload("qwen", None)
    assert status == "Reloaded 5 presets; 1 file(s) skipped."
    assert "user preset broken.yaml: temperature: expected a number, got 'lots' (skipped)" in problems
    assert choices["value"] == "qwen" and "fine" in choices["choices"]
    assert signal == {"serial": 1, "apply": None}


def test_apply_then_tab_dropdowns_follow(tab: PresetsTab, store: PresetStore) -> None:
    status, signal = tab.apply("qwen", {"serial": 1, "apply": None})
    assert status.startswith("✓ Applied **qwen**")
    assert signal == {"serial": 2, "apply": "qwen"}
    assert follow(store, "code", signal, "precise") == {"__type__": "update", "choices": store.names(),
                                                        "value": "qwen"}
    # A list refresh (save/delete) keeps each tab's own choice...
    assert follow(store, "code", {"serial": 3, "apply": None}, "creative")["value"] == "creative"
    # ...unless that preset is gone: back to the tab's default.
    assert follow(store, "code", {"serial": 4, "apply": None}, "deleted one")["value"] == "precise"
    assert follow(store, "blog", {"serial": 4, "apply": None}, None)["value"] == "creative"
    status, signal = tab.apply("nope", signal)
    assert status == "⚠ Choose a preset first." and is_skip(signal)


@pytest.mark.parametrize("presets_first", [True, False])
def test_tab_and_followers_build_in_any_order_and_stay_private(store: PresetStore, presets_first: bool) -> None:
    ctx = SimpleNamespace(presets=store)
    with gr.Blocks() as app:
        if presets_first:
            build_presets_tab(ctx)
        dropdowns = []
        for name in ("blog", "code"):
            with gr.Tab(name):
                dropdowns.append(gr.Dropdown(store.names(), value=store.for_tab(name).name))
                follow_applied(store, dropdowns[-1], tab=name)
        if not presets_first:
            build_presets_tab(ctx)
    # Every follower listens to the one state the Presets tab writes, and writes its own dropdown.
    states = [block for block in app.blocks.values() if isinstance(block, gr.State)]
    assert len(states) == 1
    listeners = [fn for fn in app.fns.values() if any(t[0] == states[0]._id for t in fn.targets)]
    assert sorted(fn.outputs[0]._id for fn in listeners) == sorted(d._id for d in dropdowns)
    writers = [fn for fn in app.fns.values() if any(o._id == states[0]._id for o in fn.outputs)]
    assert sorted(fn.name for fn in writers) == ["apply", "delete", "reload", "save_as_new", "update_user"]
    # Preset editing is UI-only: none of it is an API endpoint.
    assert app.get_api_info()["named_endpoints"] == {}


def test_outside_blocks_is_a_clear_error(store: PresetStore) -> None:
    with pytest.raises(RuntimeError, match="inside a gr.Blocks context"):
        build_presets_tab(SimpleNamespace(presets=store))
