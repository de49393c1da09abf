"""The Blocks app: composes one builder function per tab around one shared engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import gradio as gr

from writing.engine import Engine, GenerationStats
from writing.errors import StudioError
from writing.params import make_params
from writing.ui.runs import SessionRuns

MODEL_QUEUE = "model"  # every generating event shares this concurrency_id: one model, one run


@dataclass
class UIContext:
    engine: Engine
    runs: SessionRuns = field(default_factory=SessionRuns)


def status_line(engine: Engine, stats: GenerationStats | None = None) -> str:
    parts = [f"**{engine.name}**", engine.backend, getattr(engine, "dtype", "")]
    if stats is not None and stats.new_tokens:
        parts.append(f"{stats.new_tokens} tokens, {stats.tokens_per_second:.1f} tok/s")
    return " · ".join(p for p in parts if p)


def build_write_tab(ctx: UIContext) -> None:
    """A plain prompt -> streamed Markdown page (the tabs of the studio build on this)."""
    with gr.Tab("Write"):
        prompt = gr.Textbox(label="Prompt", lines=4, placeholder="What should the model write?")
        with gr.Row():
            generate = gr.Button("Generate", variant="primary")
            stop = gr.Button("Stop")
        output = gr.Markdown(label="Output")
        status = gr.Markdown(status_line(ctx.engine))

    def run(text: str, request: gr.Request) -> Iterator[tuple[str, str]]:
        cancel = ctx.runs.start(request.session_hash)
        stats = GenerationStats()
        shown = ""
        try:
            params = make_params(max_new_tokens=256)
            for piece in ctx.engine.stream([{"role": "user", "content": text}], params, cancel, stats=stats):
                shown += piece
                yield shown, status_line(ctx.engine, stats)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        finally:
            cancel.set()
            ctx.runs.finish(request.session_hash, cancel)
        yield shown, status_line(ctx.engine, stats)

    def halt(request: gr.Request) -> None:
        ctx.runs.stop(request.session_hash)

    generate.click(run, prompt, [output, status], api_name="write", concurrency_id=MODEL_QUEUE)
    stop.click(halt, None, None, queue=False, api_name="stop")


def build_app(ctx: UIContext) -> gr.Blocks:
    with gr.Blocks(title="Writing Studio") as app:
        gr.Markdown("# Writing Studio")
        build_write_tab(ctx)
    app.queue(default_concurrency_limit=1, max_size=16)
    return app
