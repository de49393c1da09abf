"""Preset store rules the tab tests do not reach (issue 16: the surviving mutants of
writing/library/presets.py): file-size and YAML error reporting, slugs at the length cut, per-user
listing and fallbacks, save/delete error messages, and what a saved file looks like to a person
editing it by hand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from writing.errors import ParamError
from writing.library.presets import (
    DESCRIPTION_MAX,
    FILE_MAX_BYTES,
    PresetError,
    PresetStore,
    load_preset_file,
    parse_preset,
    slugify,
)

CALM = "name: calm\ndescription: quiet\ntemperature: 0.2\n"


def builtins(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "builtin"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def store(tmp_path: Path, files: dict[str, str] | None = None) -> PresetStore:
    return PresetStore(builtin_dir=builtins(tmp_path, {"calm.yaml": CALM} if files is None else files),
                       user_dir=tmp_path / "user")


def refused(path: Path) -> str:
    with pytest.raises(PresetError) as caught:
        load_preset_file(path)
    return str(caught.value)


# --- reading one file ------------------------------------------------------------------------------------


def test_a_file_of_exactly_the_size_limit_loads_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    body = "name: big\ntemperature: 0.5\n# "
    path = tmp_path / "big.yaml"
    path.write_text(body + "x" * (FILE_MAX_BYTES - len(body) - 1) + "\n", encoding="utf-8")
    assert path.stat().st_size == FILE_MAX_BYTES
    assert load_preset_file(path).temperature == 0.5
    path.write_text(body + "x" * (FILE_MAX_BYTES - len(body)) + "\n", encoding="utf-8")
    assert refused(path) == f"file is {FILE_MAX_BYTES + 1} bytes; a preset file must be under {FILE_MAX_BYTES}"


def test_an_unreadable_file_says_why_in_words(tmp_path: Path) -> None:
    folder = tmp_path / "odd.yaml"
    folder.mkdir()  # a folder with a preset's name: stat works, reading does not
    assert refused(folder) == "cannot read: Is a directory"


def test_a_yaml_mistake_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntemperature: [0.5\n", encoding="utf-8")
    message = refused(path)
    problem = message.split(": ", 1)[1]
    assert message == f"malformed YAML (line 3, column 1): {problem}"
    assert "\n" not in problem and "line" not in problem  # pyyaml's short problem, not its whole report


def test_a_key_given_twice_names_the_key_and_where(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("name: x\ntemperature: 0.5\ntemperature: 0.9\n", encoding="utf-8")
    assert refused(path) == "malformed YAML (line 3, column 1): key 'temperature' appears twice"


def test_a_character_yaml_cannot_hold_is_reported_without_a_location(tmp_path: Path) -> None:
    # pyyaml's reader rejects it before parsing: its error has neither a mark nor a short `problem`
    path = tmp_path / "bell.yaml"
    path.write_text("name: x\ndescription: ring \x07\n", encoding="utf-8")
    message = refused(path)
    assert message.startswith("malformed YAML: "), message
    assert "special characters are not allowed" in message


# --- slugs -----------------------------------------------------------------------------------------------


def test_slug_is_cut_at_forty_characters_without_a_dash_at_either_end() -> None:
    assert slugify("!" + "a" * 45) == "a" * 40  # a leading separator does not use up the 40
    assert slugify("a" * 39 + " b") == "a" * 39  # the cut lands on the separator: no trailing '-'


# --- listing and finding, per user -----------------------------------------------------------------------


def test_without_a_user_only_the_builtins_are_listed(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.save_user(parse_preset({"name": "Mine"}), user="alice")
    assert s.names(None) == ["calm"]


def test_user_presets_are_listed_alphabetically_ignoring_case(tmp_path: Path) -> None:
    s = store(tmp_path)
    for name in ("beta", "Alpha", "gamma", "Delta"):
        s.save_user(parse_preset({"name": name}), user="alice")
    assert s.names("alice") == ["calm", "Alpha", "beta", "Delta", "gamma"]


def test_a_name_that_is_not_text_is_simply_unknown(tmp_path: Path) -> None:
    s = store(tmp_path)
    with pytest.raises(PresetError, match="unknown preset None"):
        s.get(None)  # type: ignore[arg-type]
    with pytest.raises(PresetError, match="no user preset named None"):
        s.delete_user(None)  # type: ignore[arg-type]


def test_unknown_preset_lists_what_this_user_can_choose(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.save_user(parse_preset({"name": "Mine"}), user="alice")
    s.save_user(parse_preset({"name": "Bobs"}), user="bob")
    with pytest.raises(PresetError) as caught:
        s.get("nope", "alice")
    assert str(caught.value) == "unknown preset 'nope' (available: calm, Mine)"
    empty = PresetStore(builtin_dir=builtins(tmp_path / "e", {}), user_dir=tmp_path / "e" / "user")
    with pytest.raises(PresetError) as caught:
        empty.get("nope")
    assert str(caught.value) == "unknown preset 'nope' (available: none)"


def test_a_tab_without_its_own_default_starts_with_balanced(tmp_path: Path) -> None:
    s = store(tmp_path, {"a.yaml": "name: aaa\n", "balanced.yaml": "name: balanced\n"})
    assert s.for_tab("no such tab").name == "balanced"


def test_a_tab_default_the_user_saved_is_found_when_the_builtins_lack_it(tmp_path: Path) -> None:
    s = store(tmp_path, {"precise.yaml": "name: precise\n"})
    s.save_user(parse_preset({"name": "Creative", "temperature": 1.1}), user="alice")
    chosen = s.for_tab("blog", "alice")  # the blog tab starts with "creative"
    assert (chosen.name, chosen.temperature) == ("Creative", 1.1)


def test_without_the_tab_default_the_first_listed_preset_is_used(tmp_path: Path) -> None:
    s = store(tmp_path, {"a.yaml": "name: aaa\n", "b.yaml": "name: bbb\n"})
    assert s.for_tab("blog").name == "aaa"
    only_mine = PresetStore(builtin_dir=builtins(tmp_path / "e", {}), user_dir=tmp_path / "e" / "user")
    only_mine.save_user(parse_preset({"name": "Mine"}), user="alice")
    assert only_mine.for_tab("blog", "alice").name == "Mine"


def test_no_presets_at_all_lists_every_problem(tmp_path: Path) -> None:
    empty = PresetStore(builtin_dir=builtins(tmp_path, {}), user_dir=tmp_path / "user")
    with pytest.raises(PresetError) as caught:
        empty.for_tab("blog")
    assert str(caught.value) == "no presets loaded; problems: none"
    folder = empty.folder_of("alice")
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text("temperature: 9\n", encoding="utf-8")
    (folder / "b.yaml").write_text("[1\n", encoding="utf-8")
    empty.reload("alice")
    with pytest.raises(PresetError) as caught:
        empty.for_tab("blog", "alice")
    problems = str(caught.value).removeprefix("no presets loaded; problems: ").split("; ")
    assert [p.split(":")[0] for p in problems] == ["user preset a.yaml", "user preset b.yaml"], problems


# --- saving and deleting ---------------------------------------------------------------------------------


def test_folder_of_is_where_that_users_presets_are_saved(tmp_path: Path) -> None:
    s = store(tmp_path)
    path = s.save_user(parse_preset({"name": "Mine"}), user="alice")
    assert path.parent == s.folder_of("alice") != s.folder_of("bob")
    assert s.folder_of("local") == tmp_path / "user"
    with pytest.raises(PresetError, match="needs its owner"):
        s.folder_of("")


def test_preset_values_can_be_saved_as_plain_data(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.save_user({"name": "From the form", "temperature": 0.3})  # type: ignore[arg-type]
    assert s.get("from the form").temperature == 0.3


def test_a_new_login_gets_its_folder_created_inside_a_missing_root(tmp_path: Path) -> None:
    s = PresetStore(builtin_dir=builtins(tmp_path, {"calm.yaml": CALM}), user_dir=tmp_path / "not" / "yet")
    path = s.save_user(parse_preset({"name": "Mine"}), user="alice")
    assert path.is_file() and path.is_relative_to(tmp_path / "not" / "yet" / "users")


def test_a_root_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "user"
    root.write_text("not a folder", encoding="utf-8")
    s = PresetStore(builtin_dir=builtins(tmp_path, {"calm.yaml": CALM}), user_dir=root)
    with pytest.raises(PresetError) as caught:
        s.save_user(parse_preset({"name": "Mine"}), user="alice")
    assert str(caught.value) == f"cannot create the user presets folder {s.folder_of('alice')}: Not a directory"


def test_overwriting_a_missing_preset_lists_this_users_presets(tmp_path: Path) -> None:
    s = store(tmp_path)
    with pytest.raises(PresetError) as caught:
        s.save_user(parse_preset({"name": "Ghost"}), overwrite=True, user="alice")
    assert str(caught.value) == "no user preset named 'Ghost' (your presets: none): use Save as new preset"
    s.save_user(parse_preset({"name": "One"}), user="alice")
    s.save_user(parse_preset({"name": "Two"}), user="alice")
    with pytest.raises(PresetError) as caught:
        s.save_user(parse_preset({"name": "Ghost"}), overwrite=True, user="alice")
    assert str(caught.value) == "no user preset named 'Ghost' (your presets: One, Two): use Save as new preset"
    with pytest.raises(PresetError) as caught:
        s.delete_user("Ghost", user="alice")
    assert str(caught.value) == "no user preset named 'Ghost' (your presets: One, Two)"
    with pytest.raises(PresetError) as caught:
        s.delete_user("Ghost", user="bob")
    assert str(caught.value) == "no user preset named 'Ghost' (your presets: none)"


def test_deleting_a_preset_whose_file_is_already_gone_succeeds(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.save_user(parse_preset({"name": "Mine"})).unlink()  # removed by hand
    s.delete_user("Mine")
    assert "Mine" not in s.names()


def test_a_file_that_cannot_be_deleted_is_a_clear_error(tmp_path: Path) -> None:
    s = store(tmp_path)
    path = s.save_user(parse_preset({"name": "Mine"}))
    path.unlink()
    path.mkdir()  # something else now has the file's name
    with pytest.raises(PresetError) as caught:
        s.delete_user("Mine")
    assert str(caught.value) == f"could not delete {path.name}: Is a directory"


def test_a_file_that_cannot_be_replaced_is_a_clear_error_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    s = store(tmp_path)
    path = s.save_user(parse_preset({"name": "Mine"}))
    path.unlink()
    path.mkdir()
    with pytest.raises(PresetError) as caught:
        s.save_user(parse_preset({"name": "Mine", "temperature": 0.1}), overwrite=True)
    assert str(caught.value) == f"could not save preset to {path.name}: Is a directory"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_saving_does_not_use_the_system_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the temporary file is written next to the preset, so the final rename stays on one filesystem
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-temp"))
    s = store(tmp_path)
    assert s.save_user(parse_preset({"name": "Mine"})).is_file()


def test_a_saved_file_reads_well_by_hand(tmp_path: Path) -> None:
    s = store(tmp_path)
    path = s.save_user(parse_preset({"name": "写作", "description": "慢一点", "top_k": 20}))
    text = path.read_text(encoding="utf-8")
    assert "写作" in text and "慢一点" in text  # not \u escapes
    keys = list(yaml.safe_load(text))
    assert keys[:2] == ["name", "description"] and keys != sorted(keys)


# --- where each login's presets live (the layout on disk is a contract: a changed name orphans them) ------


@pytest.mark.parametrize(("login", "folder"), [
    ("alice", "alice-2bd806c97f0e"),
    ("a-very-long-login-name-for-testing@example.com", "a-very-long-login-name-f-13ccb329aa5c"),
    ("\udcff", "preset-8f1d0f9c8806"),  # a lone surrogate (an undecodable byte) still gets a folder
])
def test_each_login_has_a_stable_folder_under_users(tmp_path: Path, login: str, folder: str) -> None:
    s = store(tmp_path)
    assert s.folder_of(login) == tmp_path / "user" / "users" / folder
    assert s.save_user(parse_preset({"name": "Mine"}), user=login).parent == tmp_path / "user" / "users" / folder


def test_a_preset_needs_an_owner(tmp_path: Path) -> None:
    s = store(tmp_path)
    for owner in ("", 7):
        with pytest.raises(PresetError) as caught:
            s.names(owner)  # type: ignore[arg-type]
        assert str(caught.value) == "a user preset needs its owner (the logged-in name, or 'local')"


# --- names and descriptions ------------------------------------------------------------------------------


@pytest.mark.parametrize("odd", ["\ud800", "\ue000", "\u0378"])  # lone surrogate, private use, unassigned
def test_a_name_with_a_character_no_one_can_read_is_refused(odd: str) -> None:
    with pytest.raises(ParamError) as caught:
        parse_preset({"name": f"half {odd}"})
    assert str(caught.value) == "name: must not contain control or invisible characters"


def test_a_file_that_is_not_a_mapping_is_reported_as_the_files_problem() -> None:
    with pytest.raises(ParamError) as caught:
        parse_preset(["temperature", 0.5])
    assert caught.value.field == "file"
    assert str(caught.value) == "file: expected a mapping of settings (name: value), got a list"


def test_a_missing_or_empty_description_is_empty_text() -> None:
    assert parse_preset({"name": "x"}).description == ""
    assert parse_preset({"name": "x", "description": None}).description == ""


def test_a_description_may_be_exactly_the_limit() -> None:
    assert len(parse_preset({"name": "x", "description": "d" * DESCRIPTION_MAX}).description) == DESCRIPTION_MAX
    with pytest.raises(ParamError) as caught:
        parse_preset({"name": "x", "description": "d" * (DESCRIPTION_MAX + 1)})
    assert caught.value.field == "description"
    assert str(caught.value) == f"description: must be at most {DESCRIPTION_MAX} characters, got {DESCRIPTION_MAX + 1}"


# --- problems while loading ------------------------------------------------------------------------------


def test_a_broken_or_clashing_builtin_is_reported_and_the_rest_still_load(tmp_path: Path) -> None:
    s = store(tmp_path, {"a.yaml": "temperature: [\n", "b.yaml": "name: calm\n", "c.yaml": "name: Calm\n",
                         "d.yaml": "name: last\n"})
    assert s.names(None) == ["calm", "last"]
    problems = s.problems_of(None)
    assert [p.split(":")[0] for p in problems] == ["built-in preset a.yaml", "built-in preset c.yaml"], problems
    assert problems[1] == "built-in preset c.yaml: name 'Calm' is already used by another file (skipped)"
    assert problems[0].endswith("(skipped)")


def test_a_clashing_user_file_does_not_hide_the_files_after_it(tmp_path: Path) -> None:
    s = store(tmp_path)
    folder = s.folder_of("alice")
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text("name: CALM\n", encoding="utf-8")
    (folder / "b.yaml").write_text("name: Mine\n", encoding="utf-8")
    assert s.names("alice") == ["calm", "Mine"]
    assert s.problems_of("alice") == ["user preset a.yaml: name 'CALM' is already used by a built-in preset (skipped)"]


def test_reload_reads_that_users_folder_again_and_returns_their_problems(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.names("alice") == ["calm"]
    folder = s.folder_of("alice")
    folder.mkdir(parents=True)
    (folder / "new.yaml").write_text("name: New\n", encoding="utf-8")
    (folder / "bad.yaml").write_text("top_k: -3\n", encoding="utf-8")
    problems = s.reload("alice")
    assert s.names("alice") == ["calm", "New"]
    assert [p.split(":")[0] for p in problems] == ["user preset bad.yaml"]
    assert s.problems_of(None) == [] and s.problems_of("bob") == []
