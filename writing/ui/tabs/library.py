"""The Library tab: every draft of the signed-in user, newest first; search, open, edit, rename,
duplicate, delete with undo, export .md/.docx, and the offer to resume the last unfinished draft.

Deleted drafts stay in the trash (Undo restores them) for TRASH_RETENTION_S (30 days), then are purged:
for every user when the studio opens its store, and for the signed-in user when the Library lists
(at most once an hour per user, so a studio that runs for weeks purges too).

The handlers live on `Library` (plain methods, testable without a browser); `build_library_tab`
only wires them to components. Every store call passes the request's user, so with --auth no one
can list or open another user's drafts, whatever ids they send.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.errors import StudioError
from writing.library.export import export_docx, export_markdown
from writing.library.paths import is_ephemeral
from writing.library.store import TRASH_RETENTION_S, Draft, DraftStore, DraftSummary
from writing.ui.autosave import user_of
from writing.ui.i18n import t

if TYPE_CHECKING:
    from writing.ui.context import UIContext

HEADERS = ["Updated", "Kind", "Title", "Words", "Status", "ID"]  # the id: for API clients and support
NO_STORE = "Drafts are not being saved: the drafts database is not available."
PURGE_EVERY_S = 3600.0  # how often the Library purges a user's expired trash while the studio runs
EPHEMERAL = ("This Space has no persistent storage: drafts are lost when it restarts. "
             "Download what you want to keep (or attach storage, mounted at /data).")


def when(ts: float, *, now: float | None = None) -> str:
    """Short local time: 14:05 today, 'Mar 3 14:05' this year, '2024-03-03' before."""
    now = time.time() if now is None else now
    then, today = time.localtime(ts), time.localtime(now)
    if then[:3] == today[:3]:
        return time.strftime("%H:%M", then)
    if then.tm_year == today.tm_year:
        return time.strftime("%b %d %H:%M", then)
    return time.strftime("%Y-%m-%d", then)


def label(d: DraftSummary) -> str:
    return f"{d.title} · {d.kind} · {d.words:,} words · {when(d.updated)}"


class Library:
    """The tab's logic. Methods take the request (for the user) and return plain values."""

    def __init__(self, ctx: UIContext, *, trash_retention_s: float = TRASH_RETENTION_S):
        self.ctx = ctx
        self._exports = Path(tempfile.gettempdir()) / "writing-studio-exports"  # gradio serves from tmp
        self.trash_retention_s = trash_retention_s
        self._purged: dict[str, float] = {}  # user -> time.monotonic() of the last purge of their trash

    @property
    def store(self) -> DraftStore:
        store = getattr(self.ctx, "store", None)
        if store is None:
            raise StudioError(NO_STORE)
        return store

    def notice(self) -> str:
        parts = []
        if getattr(self.ctx, "store", None) is None:
            problem = getattr(self.ctx, "store_problem", "") or ""
            parts.append(f"⚠️ {NO_STORE} {problem}".strip())
        if is_ephemeral():
            parts.append(f"⚠️ {EPHEMERAL}")
        return "\n\n".join(parts)

    def listing(self, query: str | None, request: gr.Request | None
                ) -> tuple[list[list[Any]], list[str], list[tuple[str, str]]]:
        """(table rows, ids in row order, dropdown choices) of this user's drafts matching `query`."""
        user = user_of(self.ctx, request)
        self.purge_expired(user)
        drafts = self.store.list(user=user, query=query or None)
        table = [[when(d.updated), d.kind, d.title, d.words, d.status, d.id] for d in drafts]
        return table, [d.id for d in drafts], [(label(d), d.id) for d in drafts]

    def purge_expired(self, user: str, *, force: bool = False) -> int:
        """Purge `user`'s drafts trashed longer than the retention ago (at most once per PURGE_EVERY_S)."""
        now = time.monotonic()
        last = self._purged.get(user)
        if not force and last is not None and now - last < PURGE_EVERY_S:
            return 0
        self._purged[user] = now
        try:
            return self.store.purge_trash(user=user, older_than_s=self.trash_retention_s)
        except StudioError:
            return 0  # e.g. a full disk refusing the DELETE: the list still shows, the purge waits

    def rows(self, query: str | None, request: gr.Request | None) -> tuple[list[list[Any]], list[str]]:
        table, ids, _choices = self.listing(query, request)
        return table, ids

    def open(self, draft_id: str, request: gr.Request | None) -> tuple[str, str, str, str]:
        """(title, text, kind, info line) of one draft of this user."""
        draft = self.store.get(draft_id, user=user_of(self.ctx, request))
        info = f"{draft.kind} · {draft.words:,} words · {draft.status} · updated {when(draft.updated)}"
        prompt = draft.meta.get("prompt")
        if isinstance(prompt, str) and prompt.strip() and draft.kind != "chat":
            short = " ".join(prompt.split())
            info += f"\n\n**Prompt:** {short[:300]}{'…' if len(short) > 300 else ''}"
        return draft.title, draft.content, draft.kind, info

    def save_text(self, draft_id: str, text: str, request: gr.Request | None) -> str:
        self.store.save(draft_id, user=user_of(self.ctx, request), content=text)
        return "Saved your edits."

    def rename(self, draft_id: str, title: str, request: gr.Request | None) -> str:
        stored = self.store.rename(draft_id, user=user_of(self.ctx, request), title=title)
        return f"Renamed to “{stored}”."

    def duplicate(self, draft_id: str, request: gr.Request | None) -> str:
        return self.store.duplicate(draft_id, user=user_of(self.ctx, request))

    def delete(self, draft_id: str, request: gr.Request | None) -> str:
        self.store.delete(draft_id, user=user_of(self.ctx, request))
        return draft_id

    def restore(self, draft_id: str, request: gr.Request | None) -> None:
        self.store.restore(draft_id, user=user_of(self.ctx, request))

    def export(self, draft_id: str, fmt: str, request: gr.Request | None) -> str:
        """Write the draft to a fresh folder under the temp dir; returns the file path for gr.File."""
        draft = self.store.get(draft_id, user=user_of(self.ctx, request))
        folder = self._exports / uuid.uuid4().hex  # one folder per export: same titles never collide
        folder.mkdir(parents=True, exist_ok=True)
        writer = export_docx if fmt == "docx" else export_markdown
        return str(writer(draft.title, draft.content, folder))

    def draft(self, draft_id: str, request: gr.Request | None) -> Draft:
        return self.store.get(draft_id, user=user_of(self.ctx, request))

    def unfinished(self, request: gr.Request | None) -> tuple[str | None, str]:
        """The last unfinished draft to offer on startup: (id, sentence) or (None, "")."""
        store = getattr(self.ctx, "store", None)
        if store is None:
            return None, ""
        draft = store.last_unfinished(user=user_of(self.ctx, request))
        if draft is None:
            return None, ""
        why = {"streaming": "was interrupted", "stopped": "was stopped", "error": "ended with an error"}[draft.status]
        return draft.id, (f"📝 Your draft **{draft.title}** ({draft.kind}, {draft.words:,} words) {why} "
                          f"{when(draft.updated)}. Open it to continue?")

    def answer_offer(self, draft_id: str, request: gr.Request | None) -> None:
        self.store.mark_offered(draft_id, user=user_of(self.ctx, request))


def build_library_tab(ctx: UIContext) -> None:
    lib = Library(ctx)
    targets, tabs = ctx.openers, ctx.tabs  # what the tabs built before this one registered

    with gr.Tab(t("tab_library"), id="library") as tab:
        notice = gr.Markdown(lib.notice(), visible=bool(lib.notice()))
        with gr.Group(visible=False) as offer_box:
            offer_text = gr.Markdown()
            with gr.Row():
                offer_open = gr.Button(t("lib_open_it"), variant="primary", size="sm")
                offer_dismiss = gr.Button(t("lib_not_now"), size="sm")
        offer_id = gr.State(None)
        with gr.Row():
            query = gr.Textbox(label=t("lib_search"), placeholder=t("lib_search_ph"), scale=4)
            refresh = gr.Button(t("lib_refresh"), scale=1)
        table = gr.Dataframe(headers=HEADERS, datatype=["str", "str", "str", "number", "str", "str"], type="array",
                             interactive=False, wrap=True, max_height=360, label=t("lib_drafts"))
        row_ids = gr.State([])
        # allow_custom_value: an API client may pass any id; ownership is checked by the store, not the widget.
        picked = gr.Dropdown(label=t("draft"), choices=[], value=None, interactive=True, allow_custom_value=True)
        info = gr.Markdown()
        with gr.Row():
            title = gr.Textbox(label=t("lib_title"), scale=4)
            rename = gr.Button(t("lib_rename"), scale=1)
        editor = gr.Textbox(label=t("lib_text"), lines=16, max_lines=40, buttons=["copy"], interactive=True)
        with gr.Row():
            open_tab = gr.Button(t("lib_open_tab"), variant="primary", visible=bool(targets),
                                 elem_id="library-open-tab")
            save = gr.Button(t("lib_save"))
            duplicate = gr.Button(t("lib_duplicate"))
            delete = gr.Button(t("lib_delete"), variant="stop")
            undo = gr.Button(t("lib_undo"), visible=False)
        with gr.Row():
            export_md = gr.Button(t("lib_export_md"))
            export_docx_btn = gr.Button(t("lib_export_docx"))
        download = gr.File(label=t("lib_download"), interactive=False)
        message = gr.Markdown()
        deleted_id = gr.State(None)

    def listing(q: str, selected: str | None, request: gr.Request):
        try:
            rows, ids, options = lib.listing(q, request)
        except StudioError as exc:
            return [], [], gr.update(choices=[], value=None), f"⚠️ {exc}"
        value = selected if selected in ids else None
        return rows, ids, gr.update(choices=options, value=value), ""

    def open_draft(draft_id: str | None, request: gr.Request):
        if not draft_id:
            return "", "", "", gr.update(value=None)
        try:
            name, text, _kind, line = lib.open(draft_id, request)
        except StudioError as exc:
            return "", "", f"⚠️ {exc}", gr.update(value=None)
        return name, text, line, gr.update(value=None)

    def pick_row(ids: list[str], evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return ids[row] if isinstance(row, int) and 0 <= row < len(ids) else gr.update()

    def guarded(fn):
        """Run an action; a StudioError becomes a message line instead of a crash."""
        def run(*args):
            try:
                return fn(*args)
            except StudioError as exc:
                return f"⚠️ {exc}"
        return run

    def do_rename(draft_id, new_title, request: gr.Request):
        if not draft_id:
            return "Pick a draft first."
        return guarded(lib.rename)(draft_id, new_title, request)

    def do_save(draft_id, text, request: gr.Request):
        if not draft_id:
            return "Pick a draft first."
        return guarded(lib.save_text)(draft_id, text, request)

    def do_duplicate(draft_id, request: gr.Request):
        if not draft_id:
            return gr.update(), "Pick a draft first."
        try:
            return lib.duplicate(draft_id, request), "Duplicated: the copy is selected."
        except StudioError as exc:
            return gr.update(), f"⚠️ {exc}"

    def do_delete(draft_id, request: gr.Request):
        if not draft_id:
            return None, gr.update(visible=False), gr.update(), "Pick a draft first."
        try:
            gone = lib.delete(draft_id, request)
        except StudioError as exc:
            return None, gr.update(visible=False), gr.update(), f"⚠️ {exc}"
        return gone, gr.update(visible=True), None, "Deleted. **Undo delete** brings it back."

    def do_undo(draft_id, request: gr.Request):
        if not draft_id:
            return None, gr.update(visible=False), gr.update(), "Nothing to undo."
        try:
            lib.restore(draft_id, request)
        except StudioError as exc:
            return None, gr.update(visible=False), gr.update(), f"⚠️ {exc}"
        return None, gr.update(visible=False), draft_id, "Restored."

    def do_export(fmt: str):
        def run(draft_id, request: gr.Request):
            if not draft_id:
                return None, "Pick a draft first."
            try:
                return lib.export(draft_id, fmt, request), f"Exported .{fmt}: use the download link."
            except StudioError as exc:
                return None, f"⚠️ {exc}"
            except OSError as exc:
                return None, f"⚠️ could not write the export: {exc}"
        return run

    tab_outputs = targets.outputs()
    open_outputs = [*tab_outputs, *([tabs] if tabs is not None else []), message]

    def do_open_in_tab(draft_id, request: gr.Request):
        if not draft_id:
            return {message: "Pick a draft first."}
        try:
            draft = lib.draft(draft_id, request)
        except StudioError as exc:
            return {message: f"⚠️ {exc}"}
        target = targets.get(draft.kind)
        if target is None:
            return {message: f"A {draft.kind} draft opens here: edit it above, or export it."}
        updates: dict[Any, Any] = dict(zip(target.outputs, target.load(draft), strict=True))
        if tabs is not None:
            updates[tabs] = gr.Tabs(selected=target.tab_id)
        updates[message] = f"Opened “{draft.title}” in the {target.tab_id} tab."
        return updates

    def offer(request: gr.Request):
        if is_ephemeral():
            gr.Warning(EPHEMERAL, duration=None, title="Drafts are temporary")
        try:
            draft_id, sentence = lib.unfinished(request)
        except StudioError as exc:
            return None, "", gr.update(visible=False), f"⚠️ {exc}"
        if draft_id is not None:
            # The box sits in the Library tab; a toast makes sure the writer sees it from any tab.
            gr.Info(sentence.replace("Open it to continue?", "It is in the **Library** tab."), duration=None,
                    title="Unfinished draft")
        return draft_id, sentence, gr.update(visible=draft_id is not None), gr.update()

    def initial(request: gr.Request):
        return listing("", None, request)

    def answer(draft_id, request: gr.Request):
        if draft_id:
            try:
                lib.answer_offer(draft_id, request)
            except StudioError:
                pass  # offered again next time: harmless
        return gr.update(visible=False)

    list_outputs = [table, row_ids, picked, message]
    show = {"fn": listing, "inputs": [query, picked], "outputs": list_outputs, "queue": False}
    gr.on([refresh.click, query.submit, tab.select], **show, api_name="library_list")
    refresh_list = {**show, "api_visibility": "private"}  # the list again after an action: not an endpoint
    table.select(pick_row, row_ids, picked, queue=False, api_visibility="private")
    picked.change(open_draft, picked, [title, editor, info, download], queue=False, api_name="library_open")
    rename.click(do_rename, [picked, title], message, queue=False, api_name="library_rename").then(**refresh_list)
    save.click(do_save, [picked, editor], message, queue=False, api_name="library_save").then(**refresh_list)
    duplicate.click(do_duplicate, picked, [picked, message], queue=False,
                    api_name="library_duplicate").then(**refresh_list)
    delete.click(do_delete, picked, [deleted_id, undo, picked, message], queue=False,
                 api_name="library_delete").then(**refresh_list)
    undo.click(do_undo, deleted_id, [deleted_id, undo, picked, message], queue=False,
               api_name="library_undo").then(**refresh_list)
    open_tab.click(do_open_in_tab, picked, open_outputs, queue=False, api_visibility="private")
    export_md.click(do_export("md"), picked, [download, message], api_name="library_export_md")
    export_docx_btn.click(do_export("docx"), picked, [download, message], api_name="library_export_docx")
    # On page load: the list, and the offer to resume the last unfinished draft of this user.
    gr.on(None, initial, None, list_outputs, queue=False, api_visibility="private")
    gr.on(None, offer, None, [offer_id, offer_text, offer_box, notice], queue=False, api_visibility="private")
    offer_open.click(answer, offer_id, offer_box, queue=False, api_visibility="private").then(
        lambda draft_id: draft_id, offer_id, picked, queue=False, api_visibility="private")
    offer_dismiss.click(answer, offer_id, offer_box, queue=False, api_visibility="private")
