"""Chat tab: multi-turn chat with Stop, Regenerate, Undo, Clear and editing a message.

The Chatbot (messages format) is the memory. Before each run the conversation is fitted to
the context budget: if system + history + max_new_tokens exceeds `engine.context`, the oldest
turns are left out of what the model sees (they stay on screen) and the tab says so. If even
the newest message alone does not fit, the run is refused with the budget explained.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.limits import prompt_char_limit
from writing.compose.prompts import render
from writing.engines.base import check_budget
from writing.engines.messages import content_text
from writing.errors import StudioError
from writing.ui.guard import admitted, check_history, context_of
from writing.ui.i18n import t
from writing.ui.sampling import build_sampling_panel, params_from
from writing.ui.streaming import MODEL_QUEUE, meter, stop_everything, stop_session, stream_reply

if TYPE_CHECKING:
    from writing.engines.base import Engine
    from writing.library.store import Draft
    from writing.ui.context import UIContext

Message = dict[str, str]


def plain_history(history: Sequence[Any] | None) -> list[Message]:
    """Chatbot value -> [{"role", "content": str}]; block lists flattened, odd entries refused."""
    result: list[Message] = []
    for index, item in enumerate(history or []):
        if not isinstance(item, dict):
            item = getattr(item, "model_dump", lambda: None)() or {}
        role = item.get("role")
        if role not in ("user", "assistant"):
            raise gr.Error(f"history entry {index}: role must be 'user' or 'assistant', got {role!r}")
        result.append({"role": role, "content": content_text(item.get("content"))})
    return result


def fit_history(engine: Engine, system: list[Message], turns: list[Message], max_new_tokens: int
                ) -> tuple[list[Message], int]:
    """Drop the oldest messages until system + turns + max_new_tokens fits; returns (kept, dropped count).

    Drops whole exchanges from the front so the model never sees an answer without its question.
    Raises BudgetError when even the last user message alone is too long.

    Never quadratic: a start whose messages have more characters than the context could hold is ruled out
    by counting characters (no tokenising), and among the rest the first start that fits is found by
    bisection over whole exchanges, each step ONE count of the prompt: at most ~log2(messages) + 1
    counts, each of at most `prompt_char_limit(context)` characters (the whole history fitting: one).
    """
    context = int(engine.context)
    starts = [0, *(i for i in range(1, len(turns)) if turns[i]["role"] == "user")]
    if len(turns) > 1 and turns[-1]["role"] != "user":
        starts.append(len(turns) - 1)  # as before: the newest message alone is the last resort
    # Characters first: from the newest back, the earliest start that a context could hold at all.
    room = prompt_char_limit(context) - sum(len(m["content"]) for m in system)
    suffix = [0] * (len(turns) + 1)
    for i in range(len(turns) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + len(turns[i]["content"])
    candidates = [s for s in starts if suffix[s] <= room] or starts[-1:]

    def fits(start: int) -> tuple[bool, int]:
        prompt = engine.count_tokens(system + turns[start:])
        return prompt + max_new_tokens <= context, prompt

    low, high = 0, len(candidates) - 1
    ok, prompt = fits(candidates[low])
    if ok:
        return list(turns[candidates[low]:]), candidates[low]
    if high == low:
        check_budget(prompt, max_new_tokens, context, how="system prompt + newest message")
    ok_high, prompt_high = fits(candidates[high])
    if not ok_high:
        check_budget(prompt_high, max_new_tokens, context, how="system prompt + newest message")
    # Invariant: candidates[low] does not fit, candidates[high] fits (fewer messages, fewer tokens).
    while high - low > 1:
        middle = (low + high) // 2
        if fits(candidates[middle])[0]:
            high = middle
        else:
            low = middle
    start = candidates[high]
    return list(turns[start:]), start


def reopen(draft: Draft) -> list[list[Message]]:
    """A chat draft back into the Chatbot: the whole conversation (without the system prompt)."""
    messages = draft.meta.get("messages")
    if not isinstance(messages, list):
        return [[{"role": "assistant", "content": draft.content}]]
    return [[{"role": m.get("role", "user"), "content": str(m.get("content", ""))}
             for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant")]]


def build_chat_tab(ctx: UIContext) -> None:
    with gr.Tab(t("tab_chat"), id="chat") as tab:
        chatbot = gr.Chatbot(label=t("tab_chat"), height=520, editable="user", elem_id="chat-history",
                             placeholder=t("chat_placeholder"), buttons=["copy", "copy_all"],
                             feedback_options=None, layout="bubble")
        notice = gr.Markdown("", elem_classes="studio-note", elem_id="chat-notice")
        with gr.Row(equal_height=True):
            message = gr.Textbox(show_label=False, placeholder=t("message_ph"), value="", lines=2, max_lines=10,
                                 scale=6,
                                 elem_id="chat-message")
            send = gr.Button(t("send"), variant="primary", scale=1, elem_id="chat-send")
        with gr.Row():
            stop = gr.Button(t("stop"), variant="stop", size="sm", min_width=80, elem_id="chat-stop")
            regenerate = gr.Button(t("regenerate"), size="sm", min_width=80, elem_id="chat-regenerate")
            undo = gr.Button(t("undo"), size="sm", min_width=80, elem_id="chat-undo")
            clear = gr.Button(t("clear"), size="sm", min_width=80, elem_id="chat-clear")
        panel = build_sampling_panel(ctx, tab="chat")
    ctx.openers.register("chat", tab_id="chat", outputs=[chatbot], load=reopen)

    def admit(history: Any, request: gr.Request, message: str = "") -> None:
        """Rate limit first, then the history's size: both before the history is read or tokenised."""
        admitted(ctx, request)
        try:
            check_history(history, context=context_of(ctx))
            if message:
                check_history([{"content": message}], context=context_of(ctx))
        except StudioError as exc:
            raise gr.Error(str(exc), title="Writing Studio") from None

    def respond(turns: list[Message], values: tuple[Any, ...], request: gr.Request
                ) -> Iterator[tuple[list[Message], str, str]]:
        """Stream the assistant's answer to `turns` (which end with a user message)."""
        params = params_from(values)
        system = render("chat_system")
        try:
            visible, dropped = fit_history(ctx.engine, system, turns, params.max_new_tokens)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        note = ""
        if dropped:
            note = (f"⚠️ This chat is longer than the context budget ({ctx.engine.context:,} tokens with "
                    f"{params.max_new_tokens:,} for the answer): the model no longer sees the {dropped} oldest "
                    f"message{'s' if dropped != 1 else ''}. They stay on screen; Clear to start fresh.")
        shown = [*turns, {"role": "assistant", "content": ""}]
        stats = None
        first = turns[-1]["content"][:60]
        for text, stats in stream_reply(ctx, request, kind="chat", title=first, messages=system + visible,
                                        params=params):
            shown[-1] = {"role": "assistant", "content": text}
            yield shown, note, meter(text, stats)
        yield shown, note, meter(shown[-1]["content"], stats, running=False)

    # Parameter names are the /chat API's argument names.
    def send_message(message: str, history: list[Any], temperature: float, top_p: float, top_k: int, min_p: float,
             repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
             request: gr.Request) -> Iterator[tuple[list[Message], str, str]]:
        admit(history, request, message if isinstance(message, str) else "")
        if not (message or "").strip():
            raise gr.Error("Type a message first.")
        turns = [*plain_history(history), {"role": "user", "content": message}]
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        for shown, note, line in respond(turns, values, request):
            yield shown, "", _notice(note, line)

    def regenerate_last(history: list[Any], temperature: float, top_p: float, top_k: int, min_p: float,
                        repetition_penalty: float, presence_penalty: float,
                        max_new_tokens: int, seed: int | None,
                        request: gr.Request) -> Iterator[tuple[list[Message], str]]:
        admit(history, request)
        turns = plain_history(history)
        while turns and turns[-1]["role"] == "assistant":
            turns.pop()
        if not turns:
            raise gr.Error("Nothing to regenerate yet.")
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        for shown, note, line in respond(turns, values, request):
            yield shown, _notice(note, line)

    def edited(history: list[Any], temperature: float, top_p: float, top_k: int, min_p: float,
               repetition_penalty: float, presence_penalty: float,
               max_new_tokens: int, seed: int | None, edit: gr.EditData,
               request: gr.Request) -> Iterator[tuple[list[Message], str]]:
        """A user message was edited in place: answer again from that point (later turns are replaced)."""
        admit(history, request)
        turns = plain_history(history)
        index = edit.index if isinstance(edit.index, int) else edit.index[0]
        if not 0 <= index < len(turns):
            raise gr.Error("That message is no longer in the chat.")
        turns = turns[: index + 1]
        turns[index] = {"role": turns[index]["role"], "content": content_text(edit.value)}
        if turns[-1]["role"] != "user":
            yield turns, ""
            return
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        for shown, note, line in respond(turns, values, request):
            yield shown, _notice(note, line)

    def undo_last(history: list[Any], request: gr.Request) -> tuple[list[Message], str, str]:
        stop_session(ctx, request)
        turns = plain_history(history)
        restored = ""
        while turns and turns[-1]["role"] == "assistant":
            turns.pop()
        if turns:
            restored = turns.pop()["content"]
        return turns, restored, ""

    def clear_all(request: gr.Request) -> tuple[list[Message], str, str]:
        stop_session(ctx, request)
        return [], "", ""

    async def halt(request: gr.Request) -> None:
        await stop_everything(ctx, request)  # the run ends by itself and sends its final update (see blog.py)

    common = dict(concurrency_id=MODEL_QUEUE, show_progress="minimal")
    sampling = panel.inputs
    send.click(send_message, [message, chatbot, *sampling], [chatbot, message, notice],
               api_visibility="private", **common)
    message.submit(send_message, [message, chatbot, *sampling], [chatbot, message, notice],
                   api_visibility="private", **common)
    regenerate.click(regenerate_last, [chatbot, *sampling], [chatbot, notice], api_visibility="private",
                     **common)
    chatbot.retry(regenerate_last, [chatbot, *sampling], [chatbot, notice], api_visibility="private",
                  **common)
    chatbot.edit(edited, [chatbot, *sampling], [chatbot, notice], api_visibility="private", **common)
    stop.click(halt, None, None, queue=False, api_visibility="private")
    with tab:  # back inside the tab: gr.Tabs may hold only tabs
        _chat_api(send_message, ctx.presets.for_tab("chat", None).params())
    # Undo and Clear stop a run in this session first (its last update may still show its turn: Undo again).
    editing = dict(queue=False, api_visibility="private")
    undo.click(undo_last, chatbot, [chatbot, message, notice], **editing)
    chatbot.undo(undo_last, chatbot, [chatbot, message, notice], **editing)
    clear.click(clear_all, None, [chatbot, message, notice], **editing)


def _chat_api(chat: Any, start: Any) -> None:
    """/chat for gradio_client: the same handler, with `history` as plain {"role", "content": str} messages.

    (The Chatbot component would insist on content block lists; typed arguments are kinder to scripts.)
    """

    def api_chat(message: str, history: list[dict] | None = None, temperature: float = start.temperature,
                 top_p: float = start.top_p, top_k: int = start.top_k, min_p: float = start.min_p,
                 repetition_penalty: float = start.repetition_penalty,
                 presence_penalty: float = start.presence_penalty, max_new_tokens: int = start.max_new_tokens,
                 seed: int = -1, request: gr.Request = None) -> Iterator[tuple[list[dict], str]]:
        for shown, _box, notice in chat(message, history or [], temperature, top_p, top_k, min_p,
                                        repetition_penalty, presence_penalty, max_new_tokens, seed, request=request):
            yield shown, notice

    gr.api(api_chat, api_name="chat", concurrency_id=MODEL_QUEUE)


def _notice(note: str, line: str) -> str:
    return f"{note}\n\n{line}" if note else line
