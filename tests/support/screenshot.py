"""The README picture (docs/screenshot.png): the Blog tab, dark, with a brief filled in.

Taken before generating on purpose: the tiny test model writes random tokens, which would make a
misleading picture of the product. tests/test_browser.py takes it into a temporary folder (the
tests never write into the repository); `bash scripts/screenshot.sh` refreshes docs/screenshot.png.

    python -m tests.support.screenshot OUT.png
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1440, "height": 1000}
BRIEF = {"#blog-topic textarea": "How to keep a writing habit when you have a day job",
         "#blog-audience textarea": "busy professionals",
         "#blog-tone textarea": "encouraging and practical"}


@contextlib.contextmanager
def studio_page(browser, url: str, path: Path) -> Iterator[Any]:
    """A page of the studio in a dark English browser; after the block, a viewport screenshot to `path`."""
    context = browser.new_context(locale="en-US", color_scheme="dark", viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#blog-topic textarea", timeout=30_000)
        yield page
        page.wait_for_function("document.body.classList.contains('dark')", timeout=10_000)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=False)
    finally:
        context.close()


def take(browser, url: str, path: Path) -> Path:
    """Open the studio in a dark browser, fill the Blog brief and save a viewport screenshot to `path`."""
    with studio_page(browser, url, path) as page:
        for selector, text in BRIEF.items():
            page.fill(selector, text)
        page.get_by_text("Code snippets").click()
        page.wait_for_function("document.fonts.status === 'loaded'", timeout=10_000)
    return path


@contextlib.contextmanager
def tiny_studio(work: Path, **ctx_options: Any) -> Iterator[tuple[Any, str]]:
    """(headless chromium, url) of the studio serving the tiny random model, built in `work`, on 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    from tests.support.ui_server import serve_studio
    from writing.engines.local import LocalEngine
    from writing.runtime.load import load
    from writing.tiny import build

    os.environ.setdefault("STUDIO_DATA_DIR", str(work / "data"))  # never the user's own drafts
    loaded = load(str(build(work / "tiny")), dtype="auto")
    engine = LocalEngine(loaded.model, loaded.tokenizer, name="tiny-qwen3", dtype=loaded.dtype, context=4096)
    with serve_studio(engine, **ctx_options) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser, server.url
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    """Build the tiny model, serve the studio on 127.0.0.1 with it, and take the picture into argv[0]."""
    out = Path(argv[0] if argv else "docs/screenshot.png").resolve()
    with tempfile.TemporaryDirectory(prefix="studio-screenshot-") as work, tiny_studio(Path(work)) as (browser, url):
        take(browser, url, out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
