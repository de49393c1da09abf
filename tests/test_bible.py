"""The story bible (issue #14 part 2): validation, rendering, its place in every section prompt's shared
prefix (and its tokens reused by the real tiny engine from one section to the next), the budget, Blog
and outline prompts, and "Suggest from text" (bounded prompt, parser)."""

from __future__ import annotations

import pytest

from writing.compose import limits
from writing.compose.bible import (
    FIELD_NAMES,
    Bible,
    add_entries,
    bible_tokens,
    make_bible,
    merge,
    render_bible,
    with_bible,
)
from writing.compose.bible_suggest import Suggestion, parse_suggestions, suggest_messages, suggest_source
from writing.compose.longform import (
    Brief,
    brief_from_dict,
    engine_streamer,
    estimate_tokens,
    make_brief,
    outline_messages,
    section_messages,
    write_section,
)
from writing.compose.outline import Outline, Section, edit_section
from writing.compose.prompts import render
from writing.engines.params import make_params
from writing.errors import BudgetError, ParamError

BIBLE = {"premise": "A keeper restores a lighthouse on a Hebridean island.",
         "style_rules": "British spelling\nno passive voice",
         "glossary": "lamp room: the glass room at the top",
         "characters": "Mara Finlay: the keeper, 34",
         "facts": "The lamp was last lit in 1921.",
         "avoid": "suddenly, very"}
OUTLINE = Outline("The lighthouse", (
    Section("Arrival", ("the crossing",), 150),
    Section("The lamp room", ("the glass",), 150),
    Section("First light", ("the test",), 150),
))


def brief(**extra) -> Brief:
    return make_brief(topic="The lighthouse", audience="readers of short fiction", style="quiet",
                      language="English", total_words=450, bible=BIBLE, **extra)


# -- the Bible itself ----------------------------------------------------------------------------------------

def test_make_bible_cleans_and_round_trips() -> None:
    bible = make_bible({"style_rules": "  British spelling \r\n\r\n no passive voice  ", "avoid": ["very", " really "]})
    assert bible.style_rules == "British spelling\nno passive voice"
    assert bible.avoid == "very\nreally"
    assert bible.to_dict() == {"style_rules": bible.style_rules, "avoid": bible.avoid}  # empty fields left out
    assert make_bible(bible.to_dict()) == bible and make_bible(bible) == bible
    assert make_bible(None) == Bible() and make_bible("") == Bible() and Bible().is_empty()


@pytest.mark.parametrize(("data", "field"), [
    ({"glossary": "x" * (limits.BIBLE_FIELD_MAX + 1)}, "bible.glossary"),
    ({"facts": 42}, "bible.facts"),
    ({"avoid": ["ok", 3]}, "bible.avoid"),
    ({"villains": "x"}, "bible"),
    ("just text", "bible"),
    ({name: "y" * limits.BIBLE_FIELD_MAX for name in FIELD_NAMES}, "bible"),  # each fits, all together do not
])
def test_make_bible_errors_name_the_field(data, field) -> None:
    with pytest.raises(ParamError) as info:
        make_bible(data)
    assert info.value.field == field


def test_render_bible_english_and_chinese_labels() -> None:
    bible = make_bible(BIBLE)
    english = render_bible(bible)
    assert english.startswith("Story bible")
    assert "Premise / synopsis: A keeper restores" in english
    assert "Style rules:\nBritish spelling\nno passive voice" in english
    assert "Words to avoid: suddenly, very" in english
    chinese = render_bible(bible, chinese=True)
    assert chinese.startswith("写作设定") and "术语表：lamp room" in chinese and "文风规则：\nBritish" in chinese
    assert render_bible(Bible()) == ""


def test_add_entries_skips_duplicates_and_keeps_the_caps() -> None:
    bible = add_entries(make_bible(BIBLE), "glossary", ["Lamp room: the glass room at the top", "keeper: Mara"])
    assert bible.glossary == "lamp room: the glass room at the top\nkeeper: Mara"  # case-insensitive duplicate
    with pytest.raises(ParamError, match="bible.glossary"):
        add_entries(bible, "glossary", ["x" * limits.BIBLE_FIELD_MAX])
    with pytest.raises(ParamError, match="unknown field"):
        add_entries(bible, "villains", ["x"])
    merged = merge(make_bible({"avoid": "very"}), make_bible({"avoid": "very\nsuddenly", "facts": "1921"}))
    assert merged.avoid == "very\nsuddenly" and merged.facts == "1921"


def test_bible_tokens_counts_what_the_prompt_gains(tiny_engine) -> None:
    bible = make_bible(BIBLE)
    cost = bible_tokens(bible, tiny_engine.count_tokens)
    text = render_bible(bible)
    assert abs(cost - len(tiny_engine.tokenizer(text)["input_ids"])) <= 3  # the text's own tokens, +- a join
    assert bible_tokens(Bible(), tiny_engine.count_tokens) == 0
    assert bible_tokens(add_entries(bible, "facts", ["The island has no trees."]), tiny_engine.count_tokens) > cost


# -- the Brief carries it --------------------------------------------------------------------------------------

def test_brief_carries_the_bible_and_old_briefs_still_load() -> None:
    full = brief()
    assert full.bible == make_bible(BIBLE)
    data = full.to_dict()
    assert data["bible"] == make_bible(BIBLE).to_dict()
    assert brief_from_dict(data) == full  # the API, saved drafts and stored job specs round-trip it
    old = {k: v for k, v in data.items() if k != "bible"}  # a brief saved before the bible existed
    assert brief_from_dict(old).bible == Bible()
    with pytest.raises(ParamError, match="bible.facts"):
        brief_from_dict({**data, "bible": {"facts": ["x", 1]}})


# -- section prompts ---------------------------------------------------------------------------------------------

def test_bible_is_in_every_section_system_message_before_the_plan() -> None:
    with_it = brief()
    written = edit_section(OUTLINE, 0, text="Mara stepped off the boat.")
    prompts = [section_messages(with_it, OUTLINE, i, budget_tokens=3000) for i in range(3)]
    prompts += [section_messages(with_it, written, i, budget_tokens=3000) for i in range(3)]
    prompts += [section_messages(with_it, written, 0, mode="continue", budget_tokens=3000)]
    systems = {p[0]["content"] for p in prompts}
    assert len(systems) == 1  # byte-identical: the prefix the engine reuses
    system = systems.pop()
    rendered = render_bible(with_it.bible)
    assert rendered in system
    assert system.index(rendered) < system.index("The plan:")  # before the targets that a rebalance changes
    assert all(rendered not in p[1]["content"] for p in prompts)  # not repeated in the user message
    # Without a bible the prompt is exactly what it was before the bible existed.
    plain = section_messages(Brief(topic="The lighthouse", audience="readers of short fiction", style="quiet",
                                   language="English", total_words=450), OUTLINE, 1, budget_tokens=3000)
    assert "Story bible" not in plain[0]["content"]
    assert "about 450 words\n\nThe plan:" in plain[0]["content"]


def test_chinese_brief_gets_the_chinese_bible_labels() -> None:
    chinese = make_brief(topic="灯塔的故事", total_words=450, bible={"facts": "灯最后一次点亮是在1921年。"})
    system = section_messages(chinese, OUTLINE, 0, budget_tokens=3000)[0]["content"]
    assert "写作设定" in system and "需保持一致的事实：灯最后一次点亮是在1921年。" in system


def test_bible_is_never_cut_a_prompt_that_cannot_fit_is_a_budget_error() -> None:
    big = {name: "word " * 390 for name in ("premise", "facts", "glossary")}  # ~5,850 characters
    heavy = make_brief(topic="The lighthouse", total_words=450, bible=big)
    with pytest.raises(BudgetError, match="story bible"):
        section_messages(heavy, OUTLINE, 1, budget_tokens=900)
    # With room for it, the whole bible is there, and it is the summary/tail that shrink.
    written = edit_section(OUTLINE, 0, text="Mara stepped off the boat. " * 200)
    messages = section_messages(heavy, written, 1, budget_tokens=2600)
    assert render_bible(heavy.bible) in messages[0]["content"]
    assert estimate_tokens(messages) <= 2600


def test_outline_and_blog_prompts_get_the_bible_in_their_system_message() -> None:
    outline_prompt = outline_messages(brief())
    assert render_bible(make_bible(BIBLE)) in outline_prompt[0]["content"]
    blog = render("blog", topic="Lighthouses", audience="", tone="", words=600, structure=[], language="English")
    with_it = with_bible(blog, make_bible(BIBLE))
    assert with_it[0]["content"].startswith(blog[0]["content"]) and with_it[0]["content"].endswith(
        render_bible(make_bible(BIBLE)))
    assert with_it[1] == blog[1]  # the user message is unchanged
    assert with_bible(blog, Bible()) == blog


# -- prefix reuse with the real tiny engine ----------------------------------------------------------------------

def test_second_section_reuses_the_bible_tokens_of_the_first(tiny_engine) -> None:
    """Section 1 is written, its targets rebalanced (the plan in the system message changes), section 2 is
    written: the engine's prefix KV cache still holds everything up to the end of the bible."""
    from writing.compose.budget import rebalance

    with_it = brief()
    params = make_params(temperature=1.0, seed=5)
    first = list(write_section(engine_streamer(tiny_engine), with_it, OUTLINE, 0, params,
                               context=tiny_engine.context, count_tokens=tiny_engine.count_tokens,
                               max_section_tokens=6))
    outline = edit_section(first[-1].outline, 0, text="word " * 190)  # 40 words over its target of 150
    change = rebalance(outline, 0)
    assert change is not None and change.after[1:] == (130, 130)
    second_prompt = section_messages(with_it, change.outline, 1, budget_tokens=1500,
                                     count_tokens=tiny_engine.count_tokens)
    first_prompt = section_messages(with_it, OUTLINE, 0, budget_tokens=1500, count_tokens=tiny_engine.count_tokens)
    assert first_prompt[0]["content"] != second_prompt[0]["content"]  # the plan's targets changed

    list(write_section(engine_streamer(tiny_engine), with_it, change.outline, 1, params,
                       context=tiny_engine.context, count_tokens=tiny_engine.count_tokens, max_section_tokens=6))
    rendered = render_bible(with_it.bible)
    templated = tiny_engine.tokenizer.apply_chat_template(second_prompt, tokenize=False, add_generation_prompt=True)
    cut = templated.index(rendered) + len(rendered)
    through_bible = len(tiny_engine.tokenizer(templated[:cut], add_special_tokens=False)["input_ids"])
    bible_own = len(tiny_engine.tokenizer(render_bible(with_it.bible))["input_ids"])
    assert bible_own > 50
    # Up to the end of the bible (a cut string may end one merged token early).
    assert tiny_engine.last_reused_tokens >= through_bible - 2
    assert tiny_engine.last_reused_tokens < tiny_engine.count_tokens(second_prompt)


# -- Suggest from text --------------------------------------------------------------------------------------------

def test_suggest_prompt_is_bounded_and_carries_lead_and_tail() -> None:
    long_text = "Mara climbed the stairs. " + "The wind kept on. " * 2000 + "The lamp glowed at last."
    outline = edit_section(edit_section(OUTLINE, 0, text=long_text), 1, text="A short one.")
    messages = suggest_messages(brief(), outline, budget_tokens=800)
    assert estimate_tokens(messages) <= 800
    user = messages[1]["content"]
    assert "Mara climbed the stairs." in user and "The lamp glowed at last." in user and "[…]" in user
    assert "A short one." in user and "## 3." not in user  # unwritten sections are not sent
    assert "lamp room: the glass room at the top" in user  # what the bible already has, so it is not repeated
    source = suggest_source(outline, 400)
    assert len(source) < 700
    with pytest.raises(BudgetError, match="write a section"):
        suggest_messages(brief(), OUTLINE, budget_tokens=800)


def test_parse_suggestions_reads_headings_and_items_and_skips_known_entries() -> None:
    reply = ("Here you go!\n\n## Glossary / terms\n- lamp room: the glass room at the top\n"
             "- Fresnel lens: the ribbed glass\n\n**Characters / entities**\n* Mara Finlay: the keeper, 34\n"
             "* Ewan: the boatman\n## Something else\n- not ours\nFacts to keep:\n1. The storm came in March.\n"
             "2) The island has no trees.\n## 术语表\n- 灯室：顶层的玻璃房\n## Words to avoid\n- " + "x" * 400 + "\n")
    found = parse_suggestions(reply, make_bible(BIBLE))
    assert found == [
        Suggestion("glossary", "Fresnel lens: the ribbed glass"),
        Suggestion("characters", "Ewan: the boatman"),
        Suggestion("facts", "The storm came in March."),
        Suggestion("facts", "The island has no trees."),
        Suggestion("glossary", "灯室：顶层的玻璃房"),
    ]
    assert parse_suggestions("") == [] and parse_suggestions("- orphan item") == []
    many = "## Facts to keep\n" + "".join(f"- fact {i}\n" for i in range(500))
    assert len(parse_suggestions(many)) == limits.SUGGEST_ENTRIES_MAX
