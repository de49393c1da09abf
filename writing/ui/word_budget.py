"""Word-budget controls of the Long-form tab (writing/compose/budget.py does the arithmetic).

- A checkbox (on by default): "Write all" rebalances the targets still to write after each section that
  ran over or under (expand(rebalance_targets=...)); each change is shown in the progress line as it
  happens, before the next section starts with its new target, and listed when the run ends.
- After a single section is regenerated or continued, the change is only proposed: the line says what
  would change ("Section 2 ran 140 words over: sections 3-5 now 360/360/380") and "Apply proposed
  targets" applies it. Unticked, nothing is proposed or changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import gradio as gr

from writing.compose.budget import rebalance
from writing.compose.longform import Progress
from writing.compose.outline import Outline
from writing.errors import StudioError
from writing.ui.i18n import t


def progress_note(step: Progress, notes: list[str]) -> str:
    """Record a rebalance made by expand(); the latest one, for the progress line ("" when none yet)."""
    if step.rebalanced is not None:
        notes.append(step.rebalanced.describe())
    return f" · {notes[-1]}" if notes else ""


def final_note(notes: Sequence[str]) -> str:
    return (" Targets rebalanced: " + "; ".join(notes) + ".") if notes else ""


class BudgetControls:
    def render(self) -> BudgetControls:
        self.enabled = gr.Checkbox(True, label=t("budget_rebalance"), elem_id="longform-rebalance")
        with gr.Row(equal_height=True):
            self.note = gr.Markdown("", elem_classes="studio-note", elem_id="longform-budget-note")
            self.apply = gr.Button(t("budget_apply"), size="sm", visible=False, elem_id="longform-budget-apply")
        self.proposal = gr.State(None)  # {"targets": [...], "titles": [...]}: what Apply sets
        return self

    def wire_single(self, event: Any, doc_state: gr.State, number: gr.components.Component) -> None:
        """After a single-section run (`event`, its click), propose the rebalance it calls for."""
        event.then(self.propose, [doc_state, number, self.enabled], [self.note, self.proposal, self.apply],
                   queue=False, api_visibility="private")

    def wire_apply(self, doc_state: gr.State, extra: Sequence[Any], outputs: Sequence[Any],
                   views: Callable[[Outline, Any], tuple[Any, ...]], brief: Callable[..., Any]) -> None:
        """Apply: the proposal's targets into the outline, then the tab's views of it (`views(outline, brief)`)."""
        def apply(doc: Any, proposal: Any, *brief_values: Any) -> tuple[Any, ...]:
            outline = apply_proposal(doc, proposal)
            return (*views(outline, brief(*brief_values)), "Applied.", None, gr.update(visible=False))

        self.apply.click(apply, [doc_state, self.proposal, *extra], [*outputs, self.note, self.proposal, self.apply],
                         queue=False, api_visibility="private")

    @staticmethod
    def propose(doc: Any, number: Any, enabled: bool) -> tuple[str, Any, Any]:
        hidden = gr.update(visible=False)
        if not enabled or not doc:
            return "", None, hidden
        try:
            outline = Outline.from_dict(doc)
            index = int(number) - 1
            change = rebalance(outline, index) if 0 <= index < len(outline.sections) else None
        except (StudioError, TypeError, ValueError):
            return "", None, hidden
        if change is None:
            return "", None, hidden
        proposal = {"targets": list(change.after), "before": list(change.before), "changed": change.changed,
                    "titles": [s.title for s in outline.sections]}
        return f"Proposed: {change.describe()}.", proposal, gr.update(visible=True)


def apply_proposal(doc: Any, proposal: Any) -> Outline:
    """The outline with the proposed targets, refused when the outline changed shape since the proposal."""
    if not doc or not isinstance(proposal, dict):
        raise gr.Error("There is no proposed change to apply.")
    try:
        outline = Outline.from_dict(doc)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
    targets, titles = proposal.get("targets"), proposal.get("titles")
    still_pending = all(not outline.sections[i].locked and not outline.sections[i].text.strip()
                        for i in proposal.get("changed", []) if i < len(outline.sections))
    if (titles != [s.title for s in outline.sections] or not isinstance(targets, list) or not still_pending
            or proposal.get("before") != [s.target for s in outline.sections]):
        raise gr.Error("The outline changed since this was proposed (sections, targets, locks or texts): "
                       "nothing was applied. Regenerate the section to get a new proposal.")
    return replace(outline, sections=tuple(replace(s, target=int(n)) for s, n in zip(outline.sections, targets,
                                                                                     strict=True)))
