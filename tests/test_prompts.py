"""Prompt templates are data: validated on load, rendered with string.Template, never a silent blank."""

from __future__ import annotations

from pathlib import Path

import pytest

from writing.compose.language import is_chinese, wants_chinese
from writing.compose.prompts import (
    TEMPLATE_DIR,
    PromptError,
    get_template,
    load_template,
    render,
    render_template,
    template_names,
)
from writing.errors import StudioError

BLOG = {
    "topic": "Why small language models matter",
    "audience": "web developers",
    "tone": "practical",
    "words": 900,
    "structure": ["sections", "code snippets", "summary"],
    "language": "auto",
}
TAB_TEMPLATES = {
    "blog": BLOG,
    "blog_revise": {"draft": "# Title\n\nSome text.", "instruction": "make it shorter"},
    "blog_continue": {"draft": "# Title\n\nThe first part"},
    "code": {"task": "Parse an ISO date", "language": "Python", "constraints": "no third-party packages"},
    "chat_system": {},
}


def write(tmp_path: Path, body: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(TAB_TEMPLATES))
def test_each_tab_template_renders(name: str) -> None:
    messages = render(name, **TAB_TEMPLATES[name])
    roles = [m["role"] for m in messages]
    assert roles == (["system"] if name == "chat_system" else ["system", "user"])
    for message in messages:
        assert message["content"] == message["content"].strip() and message["content"]
        assert "$" not in message["content"]  # every placeholder was filled
    for key, value in TAB_TEMPLATES[name].items():
        if isinstance(value, str) and key != "language":  # "auto" becomes a sentence
            assert value in messages[-1]["content"]


def test_every_shipped_template_file_is_valid() -> None:
    names = template_names()
    assert set(TAB_TEMPLATES) <= set(names)
    for name in names:
        load_template(TEMPLATE_DIR / f"{name}.yaml")  # raises PromptError naming the file if broken


def test_blog_prompt_carries_the_brief_and_markdown_instructions() -> None:
    system, user = render("blog", **BLOG)
    text = user["content"]
    assert "Topic: Why small language models matter" in text
    assert "about 900 words" in text
    assert "Include: sections, code snippets, summary" in text
    assert "same language as the topic" in text  # language "auto"
    assert "`# `" in text and "`## `" in text and "```python" in text
    assert "Output only the post" in text


def test_blog_explicit_language_and_empty_fields_use_defaults() -> None:
    _, user = render("blog", **{**BLOG, "language": "French", "audience": "", "tone": "  ", "structure": []})
    text = user["content"]
    assert "write the whole post in French" in text
    assert "Audience: general readers" in text
    assert "Tone: clear, friendly and concrete" in text
    assert "Include: an introduction" in text


def test_chinese_brief_gets_chinese_instructions() -> None:
    brief = {**BLOG, "topic": "为什么小型语言模型很重要", "audience": "网页开发者", "tone": "务实"}
    brief["structure"] = ["小标题", "代码示例"]
    system, user = render("blog", **brief)
    assert "博客" in system["content"]
    text = user["content"]
    assert "请写一篇完整的博客文章" in text
    assert "主题：为什么小型语言模型很重要" in text
    assert "约 900 字" in text
    assert "需要包含：小标题、代码示例" in text  # Chinese list separator
    assert "全文使用简体中文" in text
    assert "Write a complete blog post" not in text


def test_chinese_brief_with_an_english_term_is_still_chinese() -> None:
    _, user = render("blog", **{**BLOG, "topic": "关于Transformer的入门介绍", "audience": "", "tone": ""})
    assert "请写一篇完整的博客文章" in user["content"]


@pytest.mark.parametrize("language", ["中文", "zh", "Chinese", "简体中文"])
def test_asking_for_chinese_output_uses_the_chinese_prompt(language: str) -> None:
    _, user = render("blog", **{**BLOG, "language": language})
    assert "全文使用简体中文" in user["content"]


def test_english_output_of_a_chinese_brief_stays_english() -> None:
    _, user = render("blog", **{**BLOG, "topic": "为什么要学习Rust", "language": "English"})
    assert "write the whole post in English" in user["content"]


def test_revise_follows_the_draft_language() -> None:
    _, user = render("blog_revise", draft="# 标题\n\n这是一段很长的中文草稿内容。", instruction="make it shorter")
    assert "请按以下要求修改：make it shorter" in user["content"]
    _, user = render("blog_revise", draft="# Title\n\nA long English draft.", instruction="shorter")
    assert "Revise it as follows: shorter" in user["content"]


def test_code_prompt_asks_for_block_then_explanation_and_usage() -> None:
    _, user = render("code", task="Reverse a linked list", language="", constraints="")
    text = user["content"]
    assert "## Programming language\nPython" in text  # empty language -> default
    assert text.index("fenced code block") < text.index("## Explanation") < text.index("## Usage")
    _, user = render("code", task="写一个函数，计算斐波那契数列", language="Rust", constraints="")
    assert "## 编程语言\nRust" in user["content"] and "## 用法" in user["content"]


def test_dollar_signs_in_values_are_kept_verbatim() -> None:
    _, user = render("blog_revise", draft="Costs $5 or ${price}; see $topic.", instruction="keep $$")
    assert "Costs $5 or ${price}; see $topic." in user["content"]
    assert "keep $$" in user["content"]


# --- errors -------------------------------------------------------------------------------------------


def test_missing_variable_is_named() -> None:
    args = dict(BLOG)
    del args["tone"]
    with pytest.raises(StudioError, match=r"prompt 'blog': missing variable tone \(needs: topic, audience"):
        render("blog", **args)


def test_unknown_variable_is_named() -> None:
    with pytest.raises(PromptError, match="unknown variable topik"):
        render("blog", **BLOG, topik="x")


@pytest.mark.parametrize("value", [None, True, {"a": 1}, [1, 2], object()])
def test_unusable_values_are_refused(value: object) -> None:
    with pytest.raises(PromptError, match="variable words must be"):
        render("blog", **{**BLOG, "words": value})


@pytest.mark.parametrize("name", ["nope", "../presets/creative", "Blog", "", "blog.yaml"])
def test_unknown_or_odd_template_names(name: str) -> None:
    with pytest.raises(PromptError, match="prompt template"):
        render(name)


def test_unknown_template_lists_the_available_ones() -> None:
    with pytest.raises(PromptError, match=r"unknown prompt template 'nope' \(available: .*blog.*code"):
        get_template("nope")


# --- template validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("system: hi $who\n", "use undeclared variables ['who']"),
        ("vars: [who, what]\nsystem: hi $who\n", "never use declared variables ['what']"),
        ("vars: [who]\nsystem: hi $who\nuser: pay 5$\n", "a '$' that starts no placeholder"),
        ("vars: [who, who]\nsystem: hi $who\n", "listed twice"),
        ("vars: [who]\nuser: hi $who\n", "system: Field required"),
        ("vars: [who]\nsystem: hi $who\nprompt: x\n", "prompt: unknown key"),
        ("vars: who\nsystem: hi $who\n", "vars: Input should be a valid list"),
        ("vars: [who]\nsystem: hi $who\nlanguage_var: lang\n", "language_var: 'lang' is not declared"),
        ("vars: [who]\nsystem: hi $who\ndetect: [topic]\n", "detect: not declared in vars: ['topic']"),
        ("vars: [who]\nsystem: hi $who\ndefaults: {x: y}\n", "defaults: not declared in vars: ['x']"),
        ("vars: [who]\nsystem: hi $who\nzh: {system: 你好 $whom}\n", "zh.system/user use undeclared variables"),
        ("vars: [who]\nsystem: hi $who\nzh: {system: 你好}\n", "zh.system/user never use declared variables"),
        ("vars: [who]\nsystem: [hi\n", "malformed YAML"),
        ("- system\n", "expected a mapping with system/user/vars, got list"),
        ("vars: [1x]\nsystem: hi\n", "not valid variable names"),
    ],
)
def test_broken_template_is_a_clear_error(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(PromptError) as caught:
        load_template(write(tmp_path, body, "broken.yaml"))
    message = str(caught.value)
    assert message.startswith("prompt template broken.yaml: "), message
    assert expected in message


def test_valid_custom_template_with_variant(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, (
        "vars: [topic, language]\nlanguage_var: language\nauto_language: the topic's language\n"
        "system: Write about $topic in $language. Costs $$5.\n"
        "zh:\n  system: 用$language写$topic。\n  auto_language: 中文\n"
    )))
    en = render_template(template, name="t", variables={"topic": "cats", "language": "auto"})
    assert en == [{"role": "system", "content": "Write about cats in the topic's language. Costs $5."}]
    zh = render_template(template, name="t", variables={"topic": "猫", "language": ""})
    assert zh == [{"role": "system", "content": "用中文写猫。"}]


@pytest.mark.parametrize(
    ("text", "chinese"),
    [("为什么要学习Rust", True), ("关于Transformer的介绍", True), ("Write about 北京 food", False),
     ("東京のラーメンについて書いてください", False), ("plain English", False), ("", False)],
)
def test_is_chinese(text: str, chinese: bool) -> None:
    assert is_chinese(text) is chinese


@pytest.mark.parametrize(("language", "brief", "chinese"), [
    ("auto", "写一篇关于早起的文章", True), ("", "Why I write", False), ("自动", "写作", True),
    ("中文", "Why I write", True), ("zh-CN", "Why I write", True), ("Simplified Chinese", "x", True),
    ("English", "写作", False), ("French", "写作", False), (None, "写作", True),
])
def test_one_language_rule(language, brief: str, chinese: bool) -> None:
    """prompts, the long-form brief and the Blog tab all ask compose.language.wants_chinese."""
    from writing.compose.longform import make_brief

    assert wants_chinese(language, brief) is chinese
    assert make_brief(topic=brief, language=language or "auto").chinese is chinese
