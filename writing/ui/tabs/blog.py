"""Blog tab: a brief -> a streamed Markdown post; continue it, revise it, download it.

The draft and the list of revision requests live in per-session gr.State, so a follow-up
("make it shorter") revises the current draft with the earlier requests kept in view. Prompts
are data: templates `blog`, `blog_revise`, `blog_continue` (writing/compose/prompt_templates/).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.bible import with_bible
from writing.compose.language import wants_chinese
from writing.compose.prompts import render
from writing.ui import downloads
from writing.ui.bible_panel import bible_of, build_bible_panel
from writing.ui.blog_workspace import BlogWorkspace, run_keeper
from writing.ui.guard import BoundedSlider, admitted  # API input: errors name the field
from writing.ui.i18n import t
from writing.ui.sampling import build_sampling_panel, params_from
from writing.ui.streaming import MODEL_QUEUE, meter, stop_everything, stream_reply

if TYPE_CHECKING:
    from writing.library.store import Draft
    from writing.ui.context import UIContext

# Checkbox value -> what the prompt asks for (English / Chinese prompt variants).
STRUCTURE = {
    "Sections": ("sections with `##` headings", "带 `##` 小标题的分节"),
    "Code snippets": ("code snippets in fenced code blocks", "放在代码块中的代码示例"),
    "Tables": ("a Markdown table where a comparison helps", "在需要对比时使用 Markdown 表格"),
    "Summary": ("a short summary of key takeaways at the end", "结尾的要点总结"),
}
LANGUAGE_CHOICES = [("Auto (language of the brief) / 自动", "auto"), ("English", "English"), ("中文", "中文")]
DEFAULT_WORDS = 800


def tokens_for(words: float) -> int:
    """A max_new_tokens that fits a post of `words` words (English ~1.4 tokens/word, Chinese ~1/char)."""
    return int(min(32768, max(256, round(float(words) * 1.6 + 256, -1))))


def brief_structure(chosen: list[str] | None, *, chinese: bool) -> list[str]:
    unknown = [c for c in chosen or [] if c not in STRUCTURE]
    if unknown:
        raise gr.Error(f"structure: unknown option(s) {unknown} (choose from {', '.join(STRUCTURE)})")
    return [STRUCTURE[c][1 if chinese else 0] for c in chosen or []]


def title_of(draft: str, fallback: str = "draft") -> str:
    """The post's first heading (or the fallback), for the download file's name and the drafts list."""
    for line in draft.splitlines():
        if line.strip().startswith("#"):
            return line.strip().lstrip("#").strip() or fallback
    return fallback


def write_markdown(draft: str, title: str) -> str:
    """The draft as a .md file in a private temp folder (gradio serves it from its cache)."""
    slug = re.sub(r"[^\w\-]+", "-", title.lower(), flags=re.UNICODE).strip("-")[:60] or "draft"
    path = downloads.new_folder() / f"{slug}.md"  # private, per process, deleted at exit
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(draft if draft.endswith("\n") else draft + "\n")
    return downloads.private(path)


def build_blog_tab(ctx: UIContext) -> None:
    with gr.Tab(t("tab_blog"), id="blog"):
        draft_state = gr.State("")
        revisions_state = gr.State([])
        post_state = gr.State(None)  # the draft holding this post now; its revisions follow it (ui/blog_workspace.py)
        workspace = BlogWorkspace(ctx)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                topic = gr.Textbox(label=t("topic"), placeholder=t("topic_ph"), value="", lines=2, max_lines=6,
                                   elem_id="blog-topic")
                with gr.Row():
                    audience = gr.Textbox(label=t("audience"), placeholder=t("audience_ph"), value="",
                                          elem_id="blog-audience")
                    tone = gr.Textbox(label=t("tone"), placeholder=t("tone_ph"), value="", elem_id="blog-tone")
                words = BoundedSlider(100, 4000, value=DEFAULT_WORDS, step=50, label=t("words"), elem_id="blog-words")
                structure = gr.CheckboxGroup(list(STRUCTURE), value=["Sections", "Summary"], label=t("structure"))
                language = gr.Dropdown(LANGUAGE_CHOICES, value="auto", label=t("language"))
                bible = build_bible_panel(ctx, tab="blog", topic=topic, language=language, source=draft_state)
                panel = build_sampling_panel(ctx, tab="blog", max_new_tokens=tokens_for(DEFAULT_WORDS))
                with gr.Row():
                    generate = gr.Button(t("generate"), variant="primary", elem_id="blog-generate")
                    stop = gr.Button(t("stop"), variant="stop", elem_id="blog-stop")
            with gr.Column(scale=3, min_width=420):
                progress = gr.Markdown("", elem_classes="studio-meter", elem_id="blog-meter")
                draft = gr.Markdown(t("draft_empty"), elem_classes="studio-draft", elem_id="blog-draft",
                                    buttons=["copy"], show_label=False)
                with gr.Row():
                    regenerate = gr.Button(t("regenerate"), size="sm")
                    extend = gr.Button(t("continue"), size="sm", elem_id="blog-continue")
                    download = gr.DownloadButton(t("download_md"), size="sm", interactive=False,
                                                 elem_id="blog-download")
                with gr.Row(equal_height=False):
                    followup = gr.Textbox(label=t("followup"), placeholder=t("followup_ph"), value="", scale=4,
                                          elem_id="blog-followup")
                    revise = gr.Button(t("revise"), scale=1, min_width=100, elem_id="blog-revise",
                                       elem_classes="studio-inline")
                history = gr.Markdown("", elem_classes="studio-note")
                workspace.render()

    outputs = [draft, progress, draft_state, revisions_state, download, history, post_state]

    def finish(text: str, stats: Any, revisions: list[str], post: str | None) -> tuple[Any, ...]:
        path = write_markdown(text, title_of(text)) if text.strip() else None
        return (text, meter(text, stats, running=False), text, revisions,
                gr.update(value=path, interactive=path is not None), _history(revisions), post)

    def present(text: str) -> tuple[Any, ...]:
        """(draft, meter, draft state, download) for a text put in by hand (an edit, a restore, a merge)."""
        path = write_markdown(text, title_of(text)) if text.strip() else None
        return text, meter(text, None, running=False), text, gr.update(value=path, interactive=path is not None)

    # Parameter names are the /blog API's argument names (gradio_client keyword arguments). story_bible (the
    # panel's gr.State, the last input; not part of the API) comes after `request`, which gradio places by its
    # annotation: a caller without a bible passes the request last as before.
    def write(topic: str, audience: str, tone: str, words: float, structure: list[str], language: str,
              temperature: float, top_p: float, top_k: int, min_p: float, repetition_penalty: float,
              presence_penalty: float, max_new_tokens: int, seed: int | None, request: gr.Request,
              story_bible: Any = None, current: str = "", post: str | None = None,
              cause: str | None = None) -> Iterator[tuple[Any, ...]]:
        admitted(ctx, request)  # the rate limit before any work
        if not (topic or "").strip():
            raise gr.Error("Write a topic first: what is the post about?")
        chinese = wants_chinese(language, topic)
        applied = bible_of(story_bible)  # the story bible / style sheet, in the system message
        messages = with_bible(render("blog", topic=topic, audience=audience or "", tone=tone or "",
                                     words=int(words or DEFAULT_WORDS),
                                     structure=brief_structure(structure, chinese=chinese),
                                     language=language or "auto"), applied, chinese=chinese)
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        brief = {"topic": topic, "audience": audience or "", "tone": tone or "",  # for "Open in its tab"
                 "bible": applied.to_dict()}
        yield from _run(messages, values, request, title=topic.strip()[:80], prefix="", revisions=[], meta=brief,
                        keeper=run_keeper(ctx, request, post, current, cause))

    def regenerate_post(request: gr.Request, current: str, post: str | None, *values: Any
                        ) -> Iterator[tuple[Any, ...]]:  # request first: gradio inserts it at its place
        fields, bible_state = values[:6 + len(panel.inputs)], values[6 + len(panel.inputs):]  # then the bible
        story_bible = bible_state[0] if bible_state else None
        yield from write(*fields, request=request, story_bible=story_bible, current=current, post=post,
                         cause="regenerate")

    def extend_draft(current: str, revisions: list[str], post: str | None, temperature: float, top_p: float, top_k: int,
                     min_p: float, repetition_penalty: float, presence_penalty: float,
                     max_new_tokens: int, seed: int | None, request: gr.Request,
                     story_bible: Any = None) -> Iterator[tuple[Any, ...]]:
        admitted(ctx, request)
        if not (current or "").strip():
            raise gr.Error("There is no draft to continue yet: generate one first.")
        messages = with_bible(render("blog_continue", draft=current), bible_of(story_bible),
                              chinese=wants_chinese("auto", current))
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        glue = "" if current.endswith(("\n", " ")) else "\n\n" if current.rstrip().endswith((".", "!", "?", "。")) \
            else " "
        yield from _run(messages, values, request, title=title_of(current), prefix=current + glue,
                        revisions=revisions, keeper=run_keeper(ctx, request, post, current, "continue"))

    def revise_draft(instruction: str, current: str, revisions: list[str], post: str | None, temperature: float,
                     top_p: float,
                     top_k: int, min_p: float, repetition_penalty: float, presence_penalty: float,
                     max_new_tokens: int, seed: int | None, request: gr.Request,
                     story_bible: Any = None) -> Iterator[tuple[Any, ...]]:
        admitted(ctx, request)
        if not (instruction or "").strip():
            raise gr.Error("Say how to change the draft, e.g. 'make it shorter'.")
        if not (current or "").strip():
            raise gr.Error("There is no draft to revise yet: generate one first.")
        earlier = list(revisions or [])
        # The conversation so far, compactly: the earlier requests are already in the draft.
        asked = instruction.strip()
        if earlier:
            asked = (f"{asked}\n\n(Earlier requests, already applied — keep them: "
                     + "; ".join(earlier) + ")")
        messages = with_bible(render("blog_revise", draft=current, instruction=asked), bible_of(story_bible),
                              chinese=wants_chinese("auto", current))
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        revised = [*earlier, instruction.strip()]
        yield from _run(messages, values, request, title=title_of(current), prefix="", revisions=revised,
                        meta={"revisions": revised}, keeper=run_keeper(ctx, request, post, current, "revise"))

    def _run(messages: list[dict[str, str]], values: tuple[Any, ...], request: gr.Request, *, title: str,
             prefix: str, revisions: list[str], keeper: Any, meta: dict[str, Any] | None = None
             ) -> Iterator[tuple[Any, ...]]:
        params = params_from(values)
        text, stats = prefix, None
        for piece, stats in stream_reply(ctx, request, kind="blog", title=title, messages=messages, params=params,
                                         draft_prefix=prefix, draft_meta=meta, on_draft=keeper.on_draft):
            text = prefix + piece
            if piece.strip():
                keeper.arrived()  # the text this run replaces is kept as a revision of the post
            yield text, meter(text, stats), gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        yield finish(text, stats, revisions, keeper.draft_id if keeper.kept else keeper.previous)

    async def halt(request: gr.Request) -> None:
        await stop_everything(ctx, request)  # the running generation, and one still waiting in the queue

    brief = [topic, audience, tone, words, structure, language, *panel.inputs, bible.state]
    common = dict(concurrency_id=MODEL_QUEUE, show_progress="minimal")
    workspace.wire(post=post_state, draft_state=draft_state, present=present,
                   present_outputs=[draft, progress, draft_state, download], sampling=panel.inputs, title=title_of)
    follow = workspace.follow  # the draft editor shows what each run leaves
    follow(generate.click(write, brief, outputs, api_name="blog", **common))
    follow(regenerate.click(regenerate_post, [draft_state, post_state, *brief], outputs, api_visibility="private",
                            **common))
    follow(extend.click(extend_draft, [draft_state, revisions_state, post_state, *panel.inputs, bible.state],
                        outputs, api_name="blog_continue", **common))
    follow(revise.click(revise_draft, [followup, draft_state, revisions_state, post_state, *panel.inputs,
                                       bible.state], outputs, api_name="blog_revise", **common))
    follow(followup.submit(revise_draft, [followup, draft_state, revisions_state, post_state, *panel.inputs,
                                          bible.state], outputs, api_visibility="private", **common))
    # No `cancels=`: the run's generator then ends by itself within a decode step and its last update
    # (meter "stopped", the draft kept for Continue/Revise/Download) always reaches the page.
    stop.click(halt, None, None, queue=False, api_visibility="private")
    words.change(lambda w: tokens_for(w), words, panel.max_new_tokens, queue=False, api_visibility="private")
    # The Library's "Open in its tab": the draft becomes this tab's current draft (Continue/Revise/Download
    # work on it); the brief fields are filled when the draft saved them (a first generation does).
    # The story bible it was written with comes back too, when it saved one.
    ctx.openers.register("blog", tab_id="blog", load=lambda saved: (*reopen(saved), *bible.reopened(saved.meta)),
                         outputs=[draft, progress, draft_state, revisions_state, download, history, topic, audience,
                                  tone, post_state, workspace.box, *bible.shown])


def reopen(saved: Draft) -> tuple[Any, ...]:
    """A blog draft -> (draft, meter, draft state, revisions, download, history, topic, audience, tone, post,
    editor text)."""
    text = saved.content
    meta = saved.meta
    revisions = [r for r in meta.get("revisions") or [] if isinstance(r, str)] \
        if isinstance(meta.get("revisions"), list) else []
    path = write_markdown(text, title_of(text, saved.title)) if text.strip() else None

    # A first generation saved its brief: restore it as it was. A Continue/Revise run did not: keep the fields.
    has_brief = isinstance(meta.get("topic"), str) and meta["topic"].strip()
    brief = [str(meta.get(key) or "") if has_brief else gr.update() for key in ("topic", "audience", "tone")]
    return (text, meter(text, None, running=False), text, revisions,
            gr.update(value=path, interactive=path is not None), _history(revisions), *brief, saved.id, text)


def _history(revisions: list[str]) -> str:
    if not revisions:
        return ""
    return "Revisions: " + " → ".join(f"“{r}”" for r in revisions[-6:])
