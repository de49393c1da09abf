"""Prompt rules the tab tests do not reach: exact error wording a template author reads, what an empty
or numeric variable becomes, and which variables decide the prompt's language (issue 16: these were
the surviving mutants of writing/compose/prompts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from writing.compose.prompts import PromptError, load_template, render_template


def template(tmp_path: Path, body: str, name: str = "t.yaml"):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return load_template(path)


def broken(tmp_path: Path, body: str | bytes) -> str:
    path = tmp_path / "broken.yaml"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    with pytest.raises(PromptError) as caught:
        load_template(path)
    return str(caught.value)


# --- what a template author reads -----------------------------------------------------------------------


def test_an_unreadable_template_says_it_cannot_be_read(tmp_path: Path) -> None:
    message = broken(tmp_path, b"system: caf\xe9\n")  # Latin-1 bytes, not UTF-8
    assert message.startswith("prompt template broken.yaml: cannot read: "), message


def test_a_nested_key_is_named_with_a_dot(tmp_path: Path) -> None:
    message = broken(tmp_path, "system: hi\nzh: {user: 你好}\n")
    assert message == "prompt template broken.yaml: zh.system: Field required"


def test_a_whole_file_rule_has_no_empty_location_and_no_pydantic_prefix(tmp_path: Path) -> None:
    # the duplicate-name rule belongs to the whole template: pydantic gives it no location and prefixes
    # "Value error, "; the author should read neither an empty "': :" nor pydantic's prefix
    message = broken(tmp_path, "vars: [who, who]\nsystem: hi $who\n")
    assert message == "prompt template broken.yaml: vars: a name is listed twice in ['who', 'who']"


def test_an_unknown_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    message = broken(tmp_path, "system: hi\nprompt: x\n")
    allowed = message.split("unknown key (allowed: ", 1)[1]
    assert allowed.endswith(")"), message
    keys = allowed[:-1].split(", ")
    assert {"system", "user", "vars", "defaults", "zh", "language_var", "detect"} <= set(keys), message


def test_every_missing_and_unknown_variable_is_listed(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [a, b, c]\nsystem: $a $b $c\n")
    with pytest.raises(PromptError) as caught:
        render_template(t, name="t", variables={"c": "x"})
    assert str(caught.value) == "prompt 't': missing variable a, b (needs: a, b, c)"
    with pytest.raises(PromptError) as caught:
        render_template(t, name="t", variables={"a": "1", "b": "2", "c": "3", "y": "4", "x": "5"})
    assert str(caught.value) == "prompt 't': unknown variable x, y (needs: a, b, c)"


@pytest.mark.parametrize(("value", "kind"), [(True, "True"), ({"k": "v"}, "dict"), ([1, 2], "list")])
def test_an_unusable_value_names_the_prompt_the_variable_and_what_it_got(
        tmp_path: Path, value: object, kind: str) -> None:
    t = template(tmp_path, "vars: [words]\nsystem: about $words\n")
    with pytest.raises(PromptError) as caught:
        render_template(t, name="blogpost", variables={"words": value})
    message = str(caught.value)
    assert message.startswith("prompt 'blogpost': variable words must be"), message
    assert message.endswith(f"got {kind}"), message


# --- what the model reads --------------------------------------------------------------------------------


def test_an_empty_variable_without_a_default_becomes_empty_text(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [topic, tone]\nsystem: Write about $topic.\nuser: \"Tone - $tone.\"\n")
    messages = render_template(t, name="t", variables={"topic": "cats", "tone": "   "})
    assert messages[1]["content"] == "Tone - ."


@pytest.mark.parametrize(("value", "text"), [(800.0, "800"), (0.5, "0.5"), (1234567, "1234567"), (12, "12")])
def test_numbers_are_written_as_a_person_would(tmp_path: Path, value: object, text: str) -> None:
    t = template(tmp_path, "vars: [words]\nsystem: about $words words\n")
    assert render_template(t, name="t", variables={"words": value})[0]["content"] == f"about {text} words"


def test_auto_language_without_its_own_wording_says_the_language_of_the_brief(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [topic, language]\nlanguage_var: language\nsystem: $topic in $language\n")
    content = render_template(t, name="t", variables={"topic": "cats", "language": "auto"})[0]["content"]
    assert content == "cats in the language of the brief"


def test_asking_for_chinese_in_an_english_only_template_names_it_in_english(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [topic, language]\nlanguage_var: language\nsystem: $topic in $language\n")
    content = render_template(t, name="t", variables={"topic": "cats", "language": "zh"})[0]["content"]
    assert content == "cats in Simplified Chinese"


ZH = "zh:\n  system: 中文 $topic\n"


def test_only_the_detect_variables_decide_the_language(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [topic, notes]\ndetect: [topic]\nsystem: EN $topic $notes\n"
                           "zh:\n  system: 中文 $topic $notes\n")
    content = render_template(t, name="t", variables={"topic": "cats", "notes": "很多很多中文笔记"})[0]["content"]
    assert content.startswith("EN "), content


def test_a_list_of_chinese_keywords_is_a_chinese_brief(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [topic]\nsystem: EN $topic\n" + ZH)
    content = render_template(t, name="t", variables={"topic": ["猫", "狗", "鸟"]})[0]["content"]
    assert content == "中文 猫、狗、鸟"


def test_numbers_do_not_count_as_english_words_in_the_brief(tmp_path: Path) -> None:
    t = template(tmp_path, "vars: [topic, words, pages]\nsystem: EN $topic $words $pages\n"
                           "zh:\n  system: 中文 $topic $words $pages\n")
    content = render_template(t, name="t", variables={"topic": "猫", "words": 800, "pages": 3})[0]["content"]
    assert content == "中文 猫 800 3"
