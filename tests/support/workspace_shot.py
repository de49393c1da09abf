"""The README's workspace picture (docs/workspace.png): a blog post opened from the Library with its story
bible filled in and the Revisions panel comparing an earlier text with the current one.

Every text in the picture was typed here (a post, an earlier version of it, a bible), not generated: the tiny
test model writes random tokens, which would make a misleading picture of the product.

    python -m tests.support.workspace_shot OUT.png        (bash scripts/screenshot.sh takes both pictures)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.support.screenshot import studio_page, tiny_studio

VIEWPORT = {"width": 1440, "height": 1100}
EARLIER = ("# Lighthouses at dusk\n\nKeepers climbed the old steps every evening to light the lamp.\n\n"
           "The lamp burned oil, and the keeper trimmed the wick twice a night.")
CURRENT = ("# Lighthouses at dusk\n\nKeepers climbed all 114 steps every evening to light the lamp.\n\n"
           "The lamp burned oil, then gas, and the keeper trimmed the wick twice a night.")
BIBLE = {"premise": "A short history of lighthouse keeping on the Scottish coast.",
         "voice": "Curious general readers; warm, concrete, unhurried.",
         "style_rules": "British spelling\nNo passive voice",
         "facts": "The tower has 114 steps.\nGas replaced oil in 1902.",
         "avoid": "suddenly, very"}


def take(browser, url: str, path: Path) -> Path:
    from tests.test_browser_library import _open_from_library

    with studio_page(browser, url, path) as page:
        _open_from_library(page, "Lighthouses at dusk")
        page.wait_for_function("(document.querySelector('#blog-draft')?.innerText || '').includes('114 steps')",
                               timeout=30_000)
        page.click("#blog-bible button, #blog-bible .label-wrap")
        page.wait_for_function("(document.querySelector('#blog-bible-style_rules textarea')?.value || '')"
                               ".includes('British')", timeout=30_000)
        page.click("#blog-revisions button, #blog-revisions .label-wrap")
        page.wait_for_function("(document.querySelector('#blog-rev-note')?.innerText || '').includes('earlier')",
                               timeout=30_000)
        page.click("#blog-rev-compare")
        page.wait_for_selector("#blog-rev-diff ins", timeout=30_000)
        page.locator("#blog-rev-diff").scroll_into_view_if_needed()
    return path


def main(argv: list[str]) -> int:
    from writing.library.revisions import Revisions
    from writing.library.store import DraftStore

    out = Path(argv[0] if argv else "docs/workspace.png").resolve()
    with tempfile.TemporaryDirectory(prefix="studio-workspace-shot-") as work:
        store = DraftStore(Path(work) / "drafts.sqlite3")
        post = store.create(user="local", kind="blog", title="Lighthouses at dusk", content=CURRENT, status="done",
                            meta={"topic": "Lighthouses at dusk", "audience": "curious readers", "tone": "warm",
                                  "bible": BIBLE})
        Revisions(store).record(user="local", draft_id=post, content=EARLIER, cause="regenerate")
        try:
            with tiny_studio(Path(work), store=store) as (browser, url):
                take(browser, url, out)
        finally:
            store.close()
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
