"""Code tab: task, language, constraints -> highlighted code + explanation and usage.

The model answers in Markdown (prompt template `code`: one fenced block, then Explanation and
Usage). `split_answer` pulls the code out while it streams, even when the closing fence has
not arrived yet. Python answers are checked with `ast.parse` only: generated code is NEVER run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.markdown import fences
from writing.compose.prompts import render
from writing.ui.i18n import t
from writing.ui.sampling import build_sampling_panel, params_from
from writing.ui.streaming import MODEL_QUEUE, meter, stop_everything, stream_reply

if TYPE_CHECKING:
    from writing.library.store import Draft
    from writing.ui.context import UIContext

# Dropdown label -> (fence tags the model may use, gr.Code language or None = plain text).
LANGUAGES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "Python": (("python", "py", "python3"), "python"),
    "JavaScript": (("javascript", "js", "node", "jsx"), "javascript"),
    "TypeScript": (("typescript", "ts", "tsx"), "typescript"),
    "C": (("c", "h"), "c"),
    "C++": (("cpp", "c++", "cc", "cxx", "hpp"), "cpp"),
    "SQL": (("sql", "sqlite", "postgresql", "mysql"), "sql"),
    "Shell": (("bash", "sh", "shell", "zsh", "console"), "shell"),
    "HTML": (("html", "htm"), "html"),
    "CSS": (("css",), "css"),
    "R": (("r",), "r"),
    "YAML": (("yaml", "yml"), "yaml"),
    "JSON": (("json",), "json"),
    "Dockerfile": (("dockerfile", "docker"), "dockerfile"),
    # gr.Code has no grammar for these: shown as plain text, still copyable.
    "Rust": (("rust", "rs"), None),
    "Go": (("go", "golang"), None),
    "Java": (("java",), None),
    "Kotlin": (("kotlin", "kt"), None),
    "C#": (("csharp", "cs", "c#"), None),
    "Ruby": (("ruby", "rb"), None),
    "PHP": (("php",), None),
    "Swift": (("swift",), None),
}

@dataclass
class Answer:
    code: str
    tag: str  # the fence's language tag, lowercase ("" if none)
    explanation: str  # the Markdown around the code block
    closed: bool  # False while the block is still streaming


def highlight_language(label: str) -> str | None:
    """gr.Code language for a dropdown choice; None (plain text) for languages it cannot highlight."""
    entry = LANGUAGES.get(label)
    if entry is not None:
        return entry[1]
    lowered = label.strip().lower()
    return lowered if lowered in gr.Code.languages else None


def _blocks(text: str) -> list[tuple[int, int, str, str, bool]]:
    """(start, end, info, body, closed) of each fenced block, in order. Runs on every streamed chunk:
    compose.markdown.fences is one linear parse (the regex it replaces was quadratic, issue #13)."""
    return [(f.start, f.end, f.info, f.body, f.closed) for f in fences(text)]


def split_answer(text: str, *, language: str = "Python") -> Answer:
    """The code block that fits `language` best (its tag first, else the longest) and the rest."""
    blocks = _blocks(text)
    if not blocks:
        if language == "Python" and text.strip() and parses(text) is None and "\n" in text.strip():
            return Answer(code=text.strip("\n"), tag="python", explanation="", closed=True)  # bare code
        return Answer(code="", tag="", explanation=text.strip(), closed=True)
    tags = LANGUAGES.get(language, ((language.lower(),), None))[0]

    def fits(block: tuple[int, int, str, str, bool]) -> bool:
        info = block[2].split()[0].lower() if block[2].split() else ""
        return info in tags

    matching = [b for b in blocks if fits(b)]
    start, end, info, body, closed = max(matching or blocks, key=lambda b: len(b[3]))
    rest = (text[:start] + text[end:]).strip()
    tag = info.split()[0].lower() if info.split() else ""
    return Answer(code=body.rstrip("\n"), tag=tag, explanation=rest, closed=closed)


def parses(code: str) -> str | None:
    """None if `code` is valid Python syntax, else 'line N: message'. Parsing only: nothing is executed."""
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return f"{type(exc).__name__}: {exc}"
    return None


def syntax_note(answer: Answer, language: str) -> str:
    if language != "Python" or not answer.code.strip():
        return ""
    problem = parses(answer.code)
    if problem is None:
        return "✅ Valid Python syntax (checked with `ast.parse`; not executed)."
    return f"⚠️ Does not parse as Python: {problem}."


def build_code_tab(ctx: UIContext) -> None:
    with gr.Tab(t("tab_code"), id="code"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                task = gr.Textbox(label=t("task"), placeholder=t("task_ph"), value="", lines=5, max_lines=20)
                language = gr.Dropdown(list(LANGUAGES), value="Python", label=t("prog_language"),
                                       allow_custom_value=True)
                constraints = gr.Textbox(label=t("constraints"), placeholder=t("constraints_ph"), value="", lines=2)
                panel = build_sampling_panel(ctx, tab="code")
                with gr.Row():
                    generate = gr.Button(t("generate"), variant="primary", elem_id="code-generate")
                    stop = gr.Button(t("stop"), variant="stop", elem_id="code-stop")
                gr.Markdown(t("code_note"), elem_classes="studio-note")
            with gr.Column(scale=3, min_width=420):
                progress = gr.Markdown("", elem_classes="studio-meter")
                # gr.Code shows an I18n label as "[object Object]": its label stays plain text.
                code = gr.Code(value="", language="python", label="Code", lines=16, interactive=False,
                               buttons=["copy", "download"], elem_id="code-output")
                check = gr.Markdown("")
                explanation = gr.Markdown("", label=t("explanation"), elem_classes="studio-draft",
                                          buttons=["copy"])

    # Parameter names are the /code API's argument names.
    def run(task: str, language: str, constraints: str, temperature: float, top_p: float, top_k: int, min_p: float,
            repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
            request: gr.Request) -> Iterator[tuple[Any, str, str, str]]:
        if not (task or "").strip():
            raise gr.Error("Describe the task first: what should the code do?")
        lang = (language or "Python").strip() or "Python"
        params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                             max_new_tokens, seed))
        messages = render("code", task=task, language=lang, constraints=constraints or "")
        answer = Answer("", "", "", False)
        stats = None
        brief = {"task": task, "language": lang, "constraints": constraints or ""}  # for "Open in its tab"
        for text, stats in stream_reply(ctx, request, kind="code", title=task.strip()[:80],
                                        messages=messages, params=params, draft_meta=brief):
            answer = split_answer(text, language=lang)
            yield answer.code, answer.explanation, "", meter(text, stats)
        yield answer.code, answer.explanation, syntax_note(answer, lang), \
            meter(answer.code + "\n" + answer.explanation, stats, running=False)

    async def halt(request: gr.Request) -> None:
        await stop_everything(ctx, request)  # the run ends by itself and sends its final update (see blog.py)

    # The highlighting follows the dropdown; the API returns the code as plain text.
    language.change(lambda lang: gr.update(language=highlight_language(lang or "")), language, code, queue=False,
                    api_visibility="private")
    generate.click(run, [task, language, constraints, *panel.inputs], [code, explanation, check, progress],
                           api_name="code", concurrency_id=MODEL_QUEUE, show_progress="minimal")
    stop.click(halt, None, None, queue=False, api_visibility="private")
    # The Library's "Open in its tab": the saved answer is split again into code and explanation.
    ctx.openers.register("code", tab_id="code", load=reopen,
                         outputs=[code, explanation, check, progress, task, language, constraints])


def reopen(saved: Draft) -> tuple[Any, ...]:
    """A code draft (the model's whole answer) -> (code, explanation, syntax note, meter, task, language,
    constraints); the brief fields only when the draft saved them."""
    meta = saved.meta
    lang = meta.get("language") if isinstance(meta.get("language"), str) and meta["language"].strip() else "Python"
    answer = split_answer(saved.content, language=lang)
    has_brief = isinstance(meta.get("task"), str) and meta["task"].strip()
    brief = [meta["task"], gr.update(value=lang), str(meta.get("constraints") or "")] if has_brief \
        else [gr.update()] * 3
    return (gr.update(value=answer.code, language=highlight_language(lang)), answer.explanation,
            syntax_note(answer, lang), meter(saved.content, None, running=False), *brief)
