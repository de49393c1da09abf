"""Word budgets that hold: when a section comes out longer or shorter than its target, the sections
still to write absorb the difference, so the document's total stays what the writer asked for.

    rebalance(outline, finished) -> Rebalance | None   (pure: the outline with new targets, and why)

Rules (tests/test_budget.py checks them as properties):
- Only unlocked sections with no text yet change ("pending"); the finished section, every written
  section and every locked one keep their targets.
- The pending targets move by the finished section's overshoot (words - target), in proportion to
  their size, never below `floor` words (MIN_SECTION_WORDS) nor above MAX_SECTION_WORDS.
- So sum(targets) + overshoot is unchanged: the document's expected length (written words plus the
  targets still to write) holds, unless the floors (or ceilings) stop it; `short_by` then says how
  many words could not be absorbed.
- Whole words: the rounding remainder goes to the largest fractional parts, so the sum is exact.

The plan's targets are quoted in every section prompt (writing/compose/longform.plan_text), so a
rebalance changes that prompt's system message from the first changed target on; the brief and the
story bible sit before the plan and stay in the reused prefix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from writing.compose.outline import MAX_SECTION_WORDS, MIN_SECTION_WORDS, Outline
from writing.compose.wordcount import count_words


@dataclass(frozen=True)
class Rebalance:
    finished: int  # index of the section that ran over or under
    overshoot: int  # its words minus its target (positive: over)
    before: tuple[int, ...]  # every section's target before
    outline: Outline  # the outline with the new targets
    short_by: int = 0  # words of overshoot the pending sections could not absorb (floors or ceilings)

    @property
    def after(self) -> tuple[int, ...]:
        return tuple(s.target for s in self.outline.sections)

    @property
    def changed(self) -> list[int]:
        return [i for i, (a, b) in enumerate(zip(self.before, self.after, strict=True)) if a != b]

    def describe(self) -> str:
        """One line: "Section 2 ran 140 words over: sections 3-5 now 360/360/380"."""
        how = "over" if self.overshoot > 0 else "under"
        changed = self.changed
        numbers = _ranges([i + 1 for i in changed])
        now = "/".join(str(self.after[i]) for i in changed)
        noun = "section" if len(changed) == 1 else "sections"
        line = f"Section {self.finished + 1} ran {abs(self.overshoot):,} words {how}: {noun} {numbers} now {now}"
        if self.short_by:
            line += f" ({abs(self.short_by):,} words could not be absorbed: the targets hit their limits)"
        return line


def _ranges(numbers: Sequence[int]) -> str:
    """[3, 4, 5, 7] -> "3-5, 7"."""
    parts: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ", ".join(parts)


def pending_sections(outline: Outline, finished: int) -> list[int]:
    """The sections a rebalance may change: unlocked, not yet written, not the finished one."""
    return [i for i, s in enumerate(outline.sections) if i != finished and not s.locked and not s.text.strip()]


def spread(targets: Sequence[int], goal: int, *, floor: int = MIN_SECTION_WORDS,
           ceiling: int = MAX_SECTION_WORDS) -> list[int]:
    """Whole-word targets summing to `goal` (clamped to what floor/ceiling allow), proportional to `targets`.

    Water-filling: scale the free targets to what remains, pin the ones that cross a bound, repeat (each
    round pins at least one target, so at most len(targets) rounds). Then largest remainders round to whole
    words without crossing a bound."""
    n = len(targets)
    if n == 0:
        return []
    if any(t < floor or t > ceiling for t in targets):
        targets = [min(max(t, floor), ceiling) for t in targets]
    goal = min(max(goal, floor * n), ceiling * n)
    pinned: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in pinned]
        left = goal - sum(pinned.values())
        weight = sum(targets[i] for i in free)
        raw = {i: targets[i] * left / weight for i in free}
        crossed = {i: floor for i in free if raw[i] < floor}
        crossed.update({i: ceiling for i in free if raw[i] > ceiling})
        if not crossed:
            break
        pinned.update(crossed)
        if len(pinned) == n:
            raw = {}
            break
    values = [pinned.get(i, 0) for i in range(n)]
    for i, value in raw.items():
        values[i] = math.floor(value)
    remainder = goal - sum(values)
    by_fraction = sorted(raw, key=lambda i: (raw[i] - math.floor(raw[i]), -i), reverse=True)
    for i in by_fraction[:max(0, remainder)]:
        values[i] += 1
    return values


def rebalance(outline: Outline, finished: int, *, pending: Iterable[int] | None = None,
              floor: int = MIN_SECTION_WORDS, words: int | None = None) -> Rebalance | None:
    """The outline with its pending targets moved to absorb section `finished`'s overshoot; None when there
    is nothing to do (on target exactly, or no pending section).

    `pending` (default: pending_sections) lets expand() name the sections it will still write, e.g. written
    ones it is about to rewrite; locked sections and `finished` are never changed whatever it says.
    `words` is the finished section's length (default: counted from its text).
    """
    sections = outline.sections
    if not 0 <= finished < len(sections):
        raise IndexError(f"no section {finished}; the outline has {len(sections)}")
    done = sections[finished]
    overshoot = (count_words(done.text) if words is None else words) - done.target
    indices = pending_sections(outline, finished) if pending is None else sorted(
        {i for i in pending if 0 <= i < len(sections) and i != finished and not sections[i].locked})
    if overshoot == 0 or not indices:
        return None
    old = [sections[i].target for i in indices]
    new = spread(old, sum(old) - overshoot, floor=floor)
    absorbed = sum(old) - sum(new)
    changed = list(sections)
    for i, target in zip(indices, new, strict=True):
        changed[i] = replace(sections[i], target=target)
    result = Rebalance(finished=finished, overshoot=overshoot, before=tuple(s.target for s in sections),
                       outline=replace(outline, sections=tuple(changed)), short_by=overshoot - absorbed)
    return result if result.changed else None
