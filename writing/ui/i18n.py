"""UI text in English and Simplified Chinese, picked by the browser's language.

Gradio 6 translates on the client: a component's label, info, placeholder, value (buttons,
Markdown) or a tab's label may be `I18N("key")`, and `launch(i18n=I18N)` ships the tables.
The browser's `navigator.language` chooses the table ("zh-CN", "zh" -> Chinese, anything
else -> English). Text built at run time (status lines, counts) stays short and symbolic.
"""

from __future__ import annotations

import gradio as gr

EN: dict[str, str] = {
    "title": "Writing Studio",
    "tagline": "Draft blog posts, code and conversations with a local model. Nothing leaves this machine.",
    "theme_toggle": "◐ Light / dark",
    # shared
    "generate": "Generate",
    "stop": "Stop",
    "regenerate": "Regenerate",
    "continue": "Continue",
    "download_md": "Download .md",
    "advanced": "Advanced: sampling for this run",
    "advanced_info": "Starts from the tab's preset; changes apply to this tab's next runs only.",
    "temperature": "Temperature",
    "top_p": "Top p",
    "top_k": "Top k",
    "min_p": "Min p",
    "repetition_penalty": "Repetition penalty",
    "presence_penalty": "Presence penalty",
    "max_new_tokens": "Max new tokens",
    "seed": "Seed (-1 = random)",
    "preset": "Preset",
    # blog
    "tab_blog": "Blog",
    "topic": "Topic",
    "topic_ph": "e.g. Why small language models are enough for most writing tasks",
    "audience": "Audience",
    "audience_ph": "e.g. indie developers",
    "tone": "Tone",
    "tone_ph": "e.g. friendly and practical",
    "words": "Target length (words)",
    "structure": "Include",
    "language": "Language",
    "draft": "Draft",
    "draft_empty": "*Your post will appear here as it is written.*",
    "followup": "Follow-up",
    "followup_ph": "e.g. make it shorter, add a section on pricing, warmer tone…",
    "revise": "Revise",
    "brief": "Brief",
    # code
    "tab_code": "Code",
    "task": "Task",
    "task_ph": "e.g. parse a CSV of expenses and print totals per month",
    "prog_language": "Programming language",
    "constraints": "Constraints",
    "constraints_ph": "e.g. standard library only, Python 3.10+",
    "code": "Code",
    "explanation": "Explanation and usage",
    "code_note": "Generated code is shown, never run.",
    # chat
    "tab_chat": "Chat",
    "message": "Message",
    "message_ph": "Ask anything — Enter to send, Shift+Enter for a new line",
    "send": "Send",
    "undo": "Undo",
    "clear": "Clear",
    "chat_placeholder": "**Start a conversation.** The model remembers this chat until you clear it.",
}

ZH: dict[str, str] = {
    "title": "写作工作室",
    "tagline": "用本地模型起草博客、代码和对话。所有内容都留在这台机器上。",
    "theme_toggle": "◐ 浅色 / 深色",
    "generate": "生成",
    "stop": "停止",
    "regenerate": "重新生成",
    "continue": "续写",
    "download_md": "下载 .md",
    "advanced": "高级：本次运行的采样参数",
    "advanced_info": "从本页的预设开始；修改只影响本页之后的生成。",
    "temperature": "温度",
    "top_p": "Top p",
    "top_k": "Top k",
    "min_p": "Min p",
    "repetition_penalty": "重复惩罚",
    "presence_penalty": "存在惩罚",
    "max_new_tokens": "最大新词元数",
    "seed": "随机种子（-1 = 随机）",
    "preset": "预设",
    "tab_blog": "博客",
    "topic": "主题",
    "topic_ph": "例如：为什么小型语言模型足以胜任大多数写作任务",
    "audience": "读者",
    "audience_ph": "例如：独立开发者",
    "tone": "语气",
    "tone_ph": "例如：亲切、实用",
    "words": "目标字数",
    "structure": "包含",
    "language": "语言",
    "draft": "草稿",
    "draft_empty": "*文章会在这里边写边显示。*",
    "followup": "后续修改",
    "followup_ph": "例如：写短一些、增加一节讲定价、语气更温暖……",
    "revise": "修改",
    "brief": "写作要求",
    "tab_code": "代码",
    "task": "任务",
    "task_ph": "例如：解析支出 CSV 文件并按月打印合计",
    "prog_language": "编程语言",
    "constraints": "约束",
    "constraints_ph": "例如：只用标准库，Python 3.10+",
    "code": "代码",
    "explanation": "说明与用法",
    "code_note": "生成的代码只显示，从不运行。",
    "tab_chat": "对话",
    "message": "消息",
    "message_ph": "随便问——回车发送，Shift+回车换行",
    "send": "发送",
    "undo": "撤销",
    "clear": "清空",
    "chat_placeholder": "**开始对话。** 在清空之前，模型会记住这段对话。",
}

I18N = gr.I18n(en=EN, zh=ZH, **{"zh-CN": ZH, "zh-Hans": ZH, "zh-SG": ZH})


def t(key: str) -> gr.i18n.I18nData:
    """A translatable string for a component property (label, value, placeholder, info)."""
    if key not in EN:
        raise KeyError(f"no UI text for {key!r}")  # a typo must fail at build time, not show a raw key
    return I18N(key)
