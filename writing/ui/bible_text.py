"""UI text of the story bible panel and the word-budget controls, English and Simplified Chinese
(data only: writing/ui/i18n.py merges it). Field labels follow writing/compose/bible.py's FIELDS."""

from __future__ import annotations

from writing.compose.bible import FIELDS

EN: dict[str, str] = {
    "bible_title": "Story bible",
    "bible_intro": "Named fields every section keeps to. They go into the shared start of every prompt (computed "
                   "once per document), whole: a bible too big for the prompt budget is refused, never cut. "
                   "Saved with the document; save it as a style sheet to reuse it.",
    "bible_sheet": "Style sheet",
    "bible_apply": "Apply",
    "bible_delete": "Delete sheet",
    "bible_sheet_name": "Save as style sheet named",
    "bible_sheet_name_ph": "e.g. House style",
    "bible_save": "Save as style sheet",
    "bible_suggest": "Suggest from text",
    "bible_suggest_note": "The model proposes entries from what is written so far. Tick the ones to keep, edit "
                          "their text if needed, then press Add ticked entries.",
    "bible_reply": "The model's proposals (as written)",
    "bible_proposals": "Proposed entries",
    "bible_add": "Add ticked entries",
    "budget_rebalance": "Keep the total: rebalance the targets still to write when a section runs over or under",
    "budget_apply": "Apply proposed targets",
}
ZH: dict[str, str] = {
    "bible_title": "写作设定",
    "bible_intro": "每一节都要遵守的设定。它会完整地放进每个提示词的共享开头（每篇文档只计算一次）；"
                   "超出提示词预算时会被拒绝，绝不截断。随文档保存；也可以另存为样式表重复使用。",
    "bible_sheet": "样式表",
    "bible_apply": "应用",
    "bible_delete": "删除样式表",
    "bible_sheet_name": "另存为样式表，名称",
    "bible_sheet_name_ph": "例如：公司文风",
    "bible_save": "另存为样式表",
    "bible_suggest": "从正文提取建议",
    "bible_suggest_note": "模型根据已写内容提出条目。勾选要保留的条目，必要时修改文字，然后点击“添加勾选的条目”。",
    "bible_reply": "模型的建议（原文）",
    "bible_proposals": "建议的条目",
    "bible_add": "添加勾选的条目",
    "budget_rebalance": "保持总字数：某节超出或不足时，重新分配尚未撰写章节的目标字数",
    "budget_apply": "应用建议的目标字数",
}
for _field in FIELDS:
    EN[f"bible_{_field.name}"] = _field.label
    ZH[f"bible_{_field.name}"] = _field.label_zh
    EN[f"bible_{_field.name}_ph"] = _field.hint
ZH.update({
    "bible_premise_ph": "用几句话说明文档讲什么",
    "bible_voice_ph": "谁来读、应该是什么语气",
    "bible_style_rules_ph": "每行一条规则：不用被动语态；使用英式拼写",
    "bible_glossary_ph": "每行一个术语：术语：含义",
    "bible_characters_ph": "每行一个：名称：身份或说明",
    "bible_facts_ph": "每行一条事实：日期、数字、决定",
    "bible_avoid_ph": "不要使用的词语，用逗号或换行分隔",
})
