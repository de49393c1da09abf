"""The Library tab: every draft of the signed-in user, newest first; search, open, edit, rename,
duplicate, delete with undo, export .md/.docx, and the offer to resume the last unfinished draft.

Deleted drafts stay in the trash (Undo restores them) for TRASH_RETENTION_S (30 days), then are purged:
for every user when the studio opens its store, and for the signed-in user when the Library lists
(at most once an hour per user, so a studio that runs for weeks purges too).

The logic lives on `Library` (plain methods, testable without a browser); `LibraryTab` renders the
components (`_render`) and wires them to event handlers (`_setup_events`) that turn its answers and
errors into component updates. Every store call passes the request's user, so with --auth no one
can list or open another user's drafts, whatever ids they send.

Lost updates: opening a draft keeps its version in the session (a gr.State); Save carries it, so a draft
saved elsewhere since (another tab, another device, a run still streaming into it) is not overwritten:
the tab says "changed elsewhere" and offers **Reload** (show the other version) or **Keep both** (save
this edit as a new draft).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.errors import StudioError
from writing.library.export import export_docx, export_markdown
from writing.library.paths import is_ephemeral
from writing.library.store import TRASH_RETENTION_S, ConflictError, Draft, DraftStore, DraftSummary
from writing.ui import downloads, job_view
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
        jobs = job_view.library_progress(self.ctx, user)  # a document written in the background: its progress
        table = [[when(d.updated), d.kind, d.title, d.words, jobs.get(d.id, d.status), d.id] for d in drafts]
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
        return draft.title, draft.content, draft.kind, self.info(draft)

    def info(self, draft: Draft) -> str:
        info = f"{draft.kind} · {draft.words:,} words · {draft.status} · updated {when(draft.updated)}"
        prompt = draft.meta.get("prompt")
        if isinstance(prompt, str) and prompt.strip() and draft.kind != "chat":
            short = " ".join(prompt.split())
            info += f"\n\n**Prompt:** {short[:300]}{'…' if len(short) > 300 else ''}"
        return info

    def save_text(self, draft_id: str, text: str, request: gr.Request | None, *, version: int | None = None) -> str:
        self.save_checked(draft_id, text, request, version=version)
        return "Saved your edits."

    def save_checked(self, draft_id: str, text: str, request: gr.Request | None, *, version: int | None) -> int:
        """Save the edit if the draft is still at `version` (None: unconditionally); returns the new version.
        ConflictError when it was saved elsewhere since."""
        return self.store.save(draft_id, user=user_of(self.ctx, request), content=text, expected_version=version)

    def keep_both(self, draft_id: str, text: str, request: gr.Request | None) -> str:
        """The edit as a new draft next to the one that changed elsewhere; returns the new draft's id."""
        user = user_of(self.ctx, request)
        other = self.store.get(draft_id, user=user)
        meta = {k: v for k, v in other.meta.items() if k != "session"}  # not a running chat's draft any more
        return self.store.create(user=user, kind=other.kind, title=f"{other.title} (my edit)", content=text,
                                 meta=meta, status="done")

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
        """Write the draft to a fresh private folder (writing/ui/downloads.py); returns the path for gr.File."""
        draft = self.store.get(draft_id, user=user_of(self.ctx, request))
        folder = downloads.new_folder()  # one folder per export: same titles never collide
        writer = export_docx if fmt == "docx" else export_markdown
        return downloads.private(writer(draft.title, draft.content, folder))

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
    LibraryTab(ctx).build()


def _guarded(fn: Callable[..., str]) -> Callable[..., str]:
    """Run an action; a StudioError becomes a message line instead of a crash."""
    def run(*args: Any) -> str:
        try:
            return fn(*args)
        except StudioError as exc:
            return f"⚠️ {exc}"
    return run


class LibraryTab:
    """The Library tab's components and event handlers (build it after the tabs whose drafts it reopens)."""

    def __init__(self, ctx: UIContext):
        self.ctx = ctx
        self.lib = Library(ctx)
        self.targets, self.tabs = ctx.openers, ctx.tabs  # what the tabs built before this one registered

    def build(self) -> None:
        self._render()
        self._setup_events()

    def _render(self) -> None:
        with gr.Tab(t("tab_library"), id="library") as self.tab:
            notice = self.lib.notice()
            self.notice = gr.Markdown(notice, visible=bool(notice))
            with gr.Group(visible=False) as self.offer_box:
                self.offer_text = gr.Markdown()
                with gr.Row():
                    self.offer_open = gr.Button(t("lib_open_it"), variant="primary", size="sm")
                    self.offer_dismiss = gr.Button(t("lib_not_now"), size="sm")
            self.offer_id = gr.State(None)
            with gr.Row():
                self.query = gr.Textbox(label=t("lib_search"), placeholder=t("lib_search_ph"), scale=4)
                self.refresh = gr.Button(t("lib_refresh"), scale=1)
            self.table = gr.Dataframe(headers=HEADERS, datatype=["str", "str", "str", "number", "str", "str"],
                                      type="array", interactive=False, wrap=True, max_height=360,
                                      label=t("lib_drafts"))
            self.row_ids = gr.State([])
            # allow_custom_value: an API client may pass any id; ownership is checked by the store, not the widget.
            self.picked = gr.Dropdown(label=t("draft"), choices=[], value=None, interactive=True,
                                      allow_custom_value=True)
            self.info = gr.Markdown()
            with gr.Row():
                self.title = gr.Textbox(label=t("lib_title"), scale=4)
                self.rename = gr.Button(t("lib_rename"), scale=1)
            self.editor = gr.Textbox(label=t("lib_text"), lines=16, max_lines=40, buttons=["copy"], interactive=True)
            self.version = gr.State(None)  # the version of the draft this session opened (Save checks it)
            with gr.Group(visible=False, elem_id="library-conflict") as self.conflict_box:
                gr.Markdown("⚠️ **This draft changed elsewhere** since you opened it. **Reload** shows the other "
                            "version (your edit here is dropped); **Keep both** saves your edit as a new draft.")
                with gr.Row():
                    self.reload = gr.Button("Reload", size="sm", elem_id="library-reload")
                    self.keep_both = gr.Button("Keep both", size="sm", variant="primary", elem_id="library-keep-both")
            with gr.Row():
                self.open_tab = gr.Button(t("lib_open_tab"), variant="primary", visible=bool(self.targets),
                                          elem_id="library-open-tab")
                self.save = gr.Button(t("lib_save"))
                self.duplicate = gr.Button(t("lib_duplicate"))
                self.delete = gr.Button(t("lib_delete"), variant="stop")
                self.undo = gr.Button(t("lib_undo"), visible=False)
            with gr.Row():
                self.export_md = gr.Button(t("lib_export_md"))
                self.export_docx = gr.Button(t("lib_export_docx"))
            self.download = gr.File(label=t("lib_download"), interactive=False)
            self.message = gr.Markdown()
            self.deleted_id = gr.State(None)

    def _setup_events(self) -> None:
        quiet: dict[str, Any] = {"queue": False}
        private: dict[str, Any] = {"queue": False, "api_visibility": "private"}
        list_outputs = [self.table, self.row_ids, self.picked, self.message]
        show = {"fn": self.listing, "inputs": [self.query, self.picked], "outputs": list_outputs, **quiet}
        gr.on([self.refresh.click, self.query.submit, self.tab.select], **show, api_name="library_list")
        refresh_list = {**show, "api_visibility": "private"}  # the list again after an action: not an endpoint
        self.keep_both.click(self.do_keep_both, [self.picked, self.editor],
                             [self.picked, self.message, self.conflict_box], **private).then(**refresh_list)
        self.table.select(self.pick_row, self.row_ids, self.picked, **private)
        opened = [self.title, self.editor, self.info, self.download, self.version, self.conflict_box]
        self.picked.change(self.open_draft, self.picked, opened, api_name="library_open", **quiet)
        self.reload.click(self.open_draft, self.picked, opened, **private)

        self.rename.click(self.do_rename, [self.picked, self.title], self.message, api_name="library_rename",
                          **quiet).then(**refresh_list)
        self.save.click(self.do_save, [self.picked, self.editor, self.version],
                        [self.message, self.version, self.conflict_box], api_name="library_save",
                        **quiet).then(**refresh_list)
        self.duplicate.click(self.do_duplicate, self.picked, [self.picked, self.message],
                             api_name="library_duplicate", **quiet).then(**refresh_list)
        undo_outputs = [self.deleted_id, self.undo, self.picked, self.message]
        self.delete.click(self.do_delete, self.picked, undo_outputs, api_name="library_delete",
                          **quiet).then(**refresh_list)
        self.undo.click(self.do_undo, self.deleted_id, undo_outputs, api_name="library_undo",
                        **quiet).then(**refresh_list)
        self.open_outputs = [*self.targets.outputs(), *([self.tabs] if self.tabs is not None else []), self.message]
        self.open_tab.click(self.do_open_in_tab, self.picked, self.open_outputs, **private)
        self.export_md.click(self.do_export("md"), self.picked, [self.download, self.message],
                             api_name="library_export_md")
        self.export_docx.click(self.do_export("docx"), self.picked, [self.download, self.message],
                               api_name="library_export_docx")
        # On page load: the list, and the offer to resume the last unfinished draft of this user.
        gr.on(None, self.initial, None, list_outputs, **private)
        gr.on(None, self.offer, None, [self.offer_id, self.offer_text, self.offer_box, self.notice], **private)
        self.offer_open.click(self.answer, self.offer_id, self.offer_box, **private).then(
            lambda draft_id: draft_id, self.offer_id, self.picked, **private)
        self.offer_dismiss.click(self.answer, self.offer_id, self.offer_box, **private)

    # -- handlers ------------------------------------------------------------------------------------------
    def listing(self, q: str, selected: str | None, request: gr.Request):
        try:
            rows, ids, options = self.lib.listing(q, request)
        except StudioError as exc:
            return [], [], gr.update(choices=[], value=None), f"⚠️ {exc}"
        value = selected if selected in ids else None
        return rows, ids, gr.update(choices=options, value=value), ""

    def initial(self, request: gr.Request):
        return self.listing("", None, request)

    def open_draft(self, draft_id: str | None, request: gr.Request):
        hidden = gr.update(visible=False)
        if not draft_id:
            return "", "", "", gr.update(value=None), None, hidden
        try:
            draft = self.lib.draft(draft_id, request)
        except StudioError as exc:
            return "", "", f"⚠️ {exc}", gr.update(value=None), None, hidden
        return draft.title, draft.content, self.lib.info(draft), gr.update(value=None), draft.version, hidden

    def pick_row(self, ids: list[str], evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return ids[row] if isinstance(row, int) and 0 <= row < len(ids) else gr.update()

    def do_rename(self, draft_id, new_title, request: gr.Request):
        if not draft_id:
            return "Pick a draft first."
        return _guarded(self.lib.rename)(draft_id, new_title, request)

    def do_save(self, draft_id, text, version, request: gr.Request):
        """Save the edit against the version this session opened; "changed elsewhere" offers reload / keep both."""
        keep, hidden = gr.update(), gr.update(visible=False)
        if not draft_id:
            return "Pick a draft first.", keep, hidden
        if version is None:  # an API client that never opened it: nothing to check the save against
            return ("⚠️ Open the draft first (library_open), so the save can check that it did not change "
                    "elsewhere.", keep, hidden)
        try:
            new_version = self.lib.save_checked(draft_id, text if isinstance(text, str) else "", request,
                                                version=version)
        except ConflictError as exc:
            return (f"⚠️ Not saved: {exc}. **Reload** shows the other version; **Keep both** saves your edit as "
                    f"a new draft.", keep, gr.update(visible=True))
        except StudioError as exc:
            return f"⚠️ {exc}", keep, hidden
        return "Saved your edits.", new_version, hidden

    def do_keep_both(self, draft_id, text, request: gr.Request):
        if not draft_id:
            return gr.update(), "Pick a draft first.", gr.update()
        try:
            new_id = self.lib.keep_both(draft_id, text if isinstance(text, str) else "", request)
        except StudioError as exc:
            return gr.update(), f"⚠️ {exc}", gr.update()
        return new_id, "Kept both: your edit is a new draft (selected), the other version is unchanged.", \
            gr.update(visible=False)

    def do_duplicate(self, draft_id, request: gr.Request):
        if not draft_id:
            return gr.update(), "Pick a draft first."
        try:
            return self.lib.duplicate(draft_id, request), "Duplicated: the copy is selected."
        except StudioError as exc:
            return gr.update(), f"⚠️ {exc}"

    def do_delete(self, draft_id, request: gr.Request):
        if not draft_id:
            return None, gr.update(visible=False), gr.update(), "Pick a draft first."
        try:
            gone = self.lib.delete(draft_id, request)
        except StudioError as exc:
            return None, gr.update(visible=False), gr.update(), f"⚠️ {exc}"
        return gone, gr.update(visible=True), None, "Deleted. **Undo delete** brings it back."

    def do_undo(self, draft_id, request: gr.Request):
        if not draft_id:
            return None, gr.update(visible=False), gr.update(), "Nothing to undo."
        try:
            self.lib.restore(draft_id, request)
        except StudioError as exc:
            return None, gr.update(visible=False), gr.update(), f"⚠️ {exc}"
        return None, gr.update(visible=False), draft_id, "Restored."

    def do_export(self, fmt: str):
        def run(draft_id, request: gr.Request):
            if not draft_id:
                return None, "Pick a draft first."
            try:
                return self.lib.export(draft_id, fmt, request), f"Exported .{fmt}: use the download link."
            except StudioError as exc:
                return None, f"⚠️ {exc}"
            except OSError as exc:
                return None, f"⚠️ could not write the export: {exc}"
        return run

    def do_open_in_tab(self, draft_id, request: gr.Request):
        if not draft_id:
            return {self.message: "Pick a draft first."}
        try:
            draft = self.lib.draft(draft_id, request)
        except StudioError as exc:
            return {self.message: f"⚠️ {exc}"}
        target = self.targets.get(draft.kind)
        if target is None:
            return {self.message: f"A {draft.kind} draft opens here: edit it above, or export it."}
        updates: dict[Any, Any] = dict(zip(target.outputs, target.load(draft), strict=True))
        if self.tabs is not None:
            updates[self.tabs] = gr.Tabs(selected=target.tab_id)
        updates[self.message] = f"Opened “{draft.title}” in the {target.tab_id} tab."
        return updates

    def offer(self, request: gr.Request):
        if is_ephemeral():
            gr.Warning(EPHEMERAL, duration=None, title="Drafts are temporary")
        try:
            draft_id, sentence = self.lib.unfinished(request)
        except StudioError as exc:
            return None, "", gr.update(visible=False), f"⚠️ {exc}"
        if draft_id is not None:
            # The box sits in the Library tab; a toast makes sure the writer sees it from any tab.
            gr.Info(sentence.replace("Open it to continue?", "It is in the **Library** tab."), duration=None,
                    title="Unfinished draft")
        return draft_id, sentence, gr.update(visible=draft_id is not None), gr.update()

    def answer(self, draft_id, request: gr.Request):
        if draft_id:
            try:
                self.lib.answer_offer(draft_id, request)
            except StudioError:
                pass  # offered again next time: harmless
        return gr.update(visible=False)
