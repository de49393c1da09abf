"""The Blog tab's workspace: edit the draft by hand, rewrite a selected passage, and its Revisions panel.

A post is a chain of drafts (every Blog run saves a new one): `post` (a gr.State in the tab) is the id of
the draft holding the post now, and its revisions follow it (writing/ui/revision_keeper.py). The tab gives
`present(text)`: what its outputs (draft, meter, draft state, download) show for a text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.ui.i18n import t
from writing.ui.passage import PassageEditor
from writing.ui.revision_keeper import Keeper, save_in_place
from writing.ui.revisions_panel import Located, RevisionsPanel

if TYPE_CHECKING:
    from writing.ui.context import UIContext


def run_keeper(ctx: UIContext, request: gr.Request | None, post: Any, current: Any, cause: str | None) -> Keeper:
    """For a Blog run: keeps the post's current text (unless `cause` is None: a new post) in the run's draft."""
    return Keeper(ctx, request, draft_id=post if isinstance(post, str) else None,
                  old_text=current if cause and isinstance(current, str) else "", cause=cause or "write", follow=True)


class BlogWorkspace:
    def __init__(self, ctx: UIContext):
        self.ctx = ctx
        self.editor = PassageEditor(ctx, prefix="blog")
        self.panel = RevisionsPanel(ctx, prefix="blog")

    def render(self) -> None:
        with gr.Accordion(t("blog_edit"), open=False, elem_id="blog-edit") as self.accordion:
            self.box = gr.Textbox(label=t("blog_edit_text"), lines=12, max_lines=40, elem_id="blog-edit-text")
            self.editor.render()
            self.save = gr.Button(t("blog_save_edit"), size="sm", elem_id="blog-save-edit")
        self.panel.render()

    def wire(self, *, post: gr.State, draft_state: gr.State, present: Callable[[str], tuple[Any, ...]],
             present_outputs: Sequence[Any], sampling: Sequence[Any], title: Callable[[str], str]) -> None:
        ctx = self.ctx
        private: dict[str, Any] = {"queue": False, "api_visibility": "private"}
        # The editor shows the post as it is when the editor is opened, and as each run leaves it (`follow`):
        # a gr.State's change event does not reach the page's components, so the box is an output instead.
        self.draft_state = draft_state
        self.accordion.expand(lambda text: text or "", draft_state, self.box, **private)

        def save_edit(text: str, post_id: Any, request: gr.Request) -> tuple[Any, ...]:
            if not isinstance(text, str) or not text.strip():
                raise gr.Error("The draft text is empty: nothing was saved (the earlier text is unchanged).")
            save_in_place(ctx, request, post_id, text, cause="edit")
            return present(text)

        self.save.click(save_edit, [self.box, post], list(present_outputs), **private)

        def begin(request: gr.Request, _text: str, post_id: Any, current: Any) -> Keeper:
            return run_keeper(ctx, request, post_id, current, "rewrite")

        def end(request: gr.Request, text: str, keeper: Keeper, _post: Any, _current: Any) -> tuple[Any, ...]:
            save_in_place(ctx, request, keeper.draft_id, text, cause=None)  # exactly what the screen shows
            return (*present(text), keeper.draft_id)

        self.editor.wire(box=self.box, kind="blog", sampling=sampling, context_inputs=[post, draft_state],
                         begin=begin, end=end, outputs=[*present_outputs, post],
                         title=lambda _post, current: title(current or ""))

        def locate(request: gr.Request, post_id: Any, current: Any) -> Located | None:
            if not isinstance(post_id, str) or not post_id:
                return None
            text = current if isinstance(current, str) else ""
            return Located(draft_id=post_id, part="", current=text, title=title(text))

        def apply(request: gr.Request, text: str, post_id: Any) -> tuple[Any, ...]:
            save_in_place(ctx, request, post_id, text, cause=None)  # the panel kept the replaced text
            return (*present(text), text)

        self.panel.wire(locate=locate, locate_inputs=[post, draft_state], apply=apply, apply_inputs=[post],
                        apply_outputs=[*present_outputs, self.box], refresh_on=[post])

    def follow(self, dependency: Any) -> Any:
        """After a Blog run (`dependency`, its click event), the editor shows the post as the run left it."""
        return dependency.then(lambda text: text or "", self.draft_state, self.box, queue=False,
                               api_visibility="private")
