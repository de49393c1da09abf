"""Smaller leaks (issue 13, part 6): private temporary downloads, credentials in --base-url redacted,
a warning whenever the studio is reachable by others without a login, remote images in model output
blocked (in real Chromium), and CLI help that quotes no unmeasured figures.
"""

from __future__ import annotations

import http.server
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hardening import FixedTextEngine, serve
from tests.test_browser import browser  # noqa: F401 - the shared chromium fixture

ROOT = Path(__file__).resolve().parent.parent


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------- temporary downloads

def test_downloads_are_private_per_process_and_pruned(tmp_path):
    from writing.compose.outline import Outline, Section
    from writing.library.store import DraftStore
    from writing.ui import downloads
    from writing.ui.context import UIContext
    from writing.ui.tabs.blog import write_markdown
    from writing.ui.tabs.library import Library
    from writing.ui.tabs.longform import _download

    store = DraftStore(tmp_path / "d.db")
    draft = store.create(user="local", kind="blog", title="Secret plans", content="# Plans\n\ntext", status="done")
    lib = Library(UIContext(engine=FixedTextEngine("x"), store=store))
    files = [write_markdown("# Secret plans\n", "Secret plans"),
             lib.export(draft, "md", None), lib.export(draft, "docx", None),
             _download(Outline(title="Doc", sections=(Section(title="A", text="words"),)))]
    root = downloads.root()
    assert root.parent == Path(tempfile.gettempdir()) and root.name.startswith("writing-studio-")
    assert root.name not in ("writing-studio-downloads", "writing-studio-exports")  # random, not guessable
    assert mode(root) == 0o700
    for file in files:
        path = Path(file)
        assert path.parent.parent == root, path
        assert mode(path.parent) == 0o700 and mode(path) == 0o600, (path, oct(mode(path)))
    # Old download folders are pruned at the next download.
    old = Path(files[0]).parent
    past = time.time() - downloads.MAX_AGE_S - 10
    os.utime(old, (past, past))
    write_markdown("again", "again")
    assert not old.exists() and Path(files[1]).exists()
    store.close()


def test_the_download_folder_is_deleted_when_the_process_exits(tmp_path):
    script = ("from writing.ui.tabs.blog import write_markdown\n"
              "print(write_markdown('# Post\\n', 'Post'), flush=True)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env=env)
    assert result.returncode == 0, result.stderr
    written = Path(result.stdout.strip().splitlines()[-1])
    assert written.is_relative_to(tmp_path)
    assert not written.exists() and not written.parent.parent.exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- credentials in --base-url

SECRET = "s3cr3t-pa55"


def test_base_url_credentials_are_redacted_everywhere(capsys):
    import studio
    from writing.engines.params import SamplingParams
    from writing.engines.remote import RemoteEngine, redact_url
    from writing.errors import StudioError
    from writing.ui.context import UIContext
    from writing.ui.streaming import status_line

    assert redact_url(f"http://alice:{SECRET}@example.com:8000/v1") == "http://***@example.com:8000/v1"
    assert redact_url("http://example.com/v1") == "http://example.com/v1"
    url = f"http://alice:{SECRET}@127.0.0.1:9/v1"  # nothing listens on port 9: every call fails
    engine = RemoteEngine(url, connect_timeout_s=2, max_retries=0, count="estimate", model="m")
    shown = [engine.name, engine.shown_url, status_line(UIContext(engine=engine))]
    try:
        shown.append(engine.describe())  # what the studio prints at start
    except StudioError as exc:
        shown.append(str(exc))
    with pytest.raises(StudioError) as failed:  # what a writer sees when a run fails
        list(engine.stream([{"role": "user", "content": "hi"}], SamplingParams(max_new_tokens=4)))
    shown.append(str(failed.value))
    assert all(SECRET not in line and "alice:" not in line for line in shown), shown
    assert "127.0.0.1:9" in shown[-1]  # still says which server
    # The CLI's own lines (startup, warnings) too.
    args = studio.build_parser().parse_args(["--backend", "openai", "--base-url", url, "--remote-model", "m"])
    studio.make_remote_engine(args)
    out = capsys.readouterr()
    assert "127.0.0.1:9" in out.out and SECRET not in out.out + out.err


# ---------------------------------------------------------------- open without a login: a warning

@pytest.mark.parametrize(("argv", "env", "warned"), [
    (["--host", "0.0.0.0"], {}, "listens on 0.0.0.0"),
    (["--host", "192.168.1.5"], {}, "listens on 192.168.1.5"),
    (["--host", "::"], {}, "listens on ::"),
    ([], {"SPACE_ID": "someone/studio"}, "Hugging Face Space WITHOUT a login"),
    (["--share"], {}, "public link WITHOUT a login"),
    (["--host", "127.0.0.1"], {}, None),
    (["--host", "localhost"], {}, None),
    (["--host", "0.0.0.0", "--auth", "ann:pw"], {}, None),
    (["--auth", "ann:pw"], {"SPACE_ID": "someone/studio"}, None),
], ids=["any", "lan", "ipv6-any", "space", "share", "loopback", "localhost", "host-with-login", "space-with-login"])
def test_a_studio_open_to_others_without_a_login_warns_and_shows_a_banner(tiny_engine, monkeypatch, capsys,
                                                                          argv, env, warned):
    import studio
    import writing.ui.app as app_module

    launched = {}
    monkeypatch.setattr(studio, "make_engine", lambda args: tiny_engine)
    monkeypatch.setattr(app_module, "launch", lambda app, **kw: launched.update(app=app, **kw))
    for name in ("STUDIO_AUTH", "SPACE_ID", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert studio.main([*argv, "--port", "1"]) == 0
    err = capsys.readouterr().err
    banners = [b.value for b in launched["app"].blocks.values() if getattr(b, "elem_id", None) == "studio-banner"]
    if warned is None:
        assert "WARNING" not in err and banners == []
    else:
        assert "WARNING" in err and warned in err and "WITHOUT a login" in err
        assert len(banners) == 1 and warned in banners[0]


# ---------------------------------------------------------------- --quantize help

def test_quantize_help_quotes_no_unmeasured_figures():
    import studio

    help_text = " ".join(studio.build_parser().format_help().split())
    quantize = help_text[help_text.index("--quantize {auto,none,int8,int4} weight-only"):]
    quantize = quantize[:quantize.index("--data-dir")]
    assert not re.search(r"\d+(\.\d+)?\s*x\b|\d+(\.\d+)?\s*%", quantize), quantize
    assert "README, Performance" in quantize


# ---------------------------------------------------------------- remote images in rendered output

class _Beacon(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        body = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
                b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
        self.send_response(200)
        self.send_header("content-type", "image/gif")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def beacon() -> Iterator[tuple[str, list[str]]]:
    """A tiny image server on another port of 127.0.0.1: another origin than the studio's."""
    hits: list[str] = []
    handler = type("Beacon", (_Beacon,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _render_in_blog_and_chat(chromium, url: str) -> dict[str, list[dict]]:
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    found: dict[str, list[dict]] = {}
    images = """(selector) => [...document.querySelectorAll(selector + ' img')]
        .filter(i => (i.getAttribute('src') || '').includes('/beacon'))
        .map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0}))"""
    try:
        page.goto(url)
        page.wait_for_selector("#blog-topic textarea", timeout=30_000)
        page.wait_for_function("![...document.querySelectorAll('[data-testid=status-tracker].full')]"
                               ".some(e => !e.classList.contains('hide'))", timeout=30_000)
        page.fill("#blog-topic textarea", "anything")
        page.click("#blog-generate")
        page.wait_for_function("(document.querySelector('#blog-draft')?.innerText || '').includes('The end')",
                               timeout=30_000)
        page.get_by_role("tab", name="Chat").click()
        page.wait_for_selector("#chat-history", timeout=10_000)
        page.fill("#chat-message textarea", "anything")
        page.click("#chat-send")
        page.wait_for_function("document.querySelector('#chat-history').innerText.includes('The end')",
                               timeout=30_000)
        page.wait_for_timeout(1500)  # any image load has started and finished by now
        found["blog"] = page.evaluate(images, "#blog-draft")
        found["chat"] = page.evaluate(images, "#chat-history")
    finally:
        context.close()
    return found


def test_remote_images_in_model_output_are_not_fetched_in_chromium(browser, beacon):  # noqa: F811 - the imported fixture
    base, hits = beacon
    text = (f"# Report\n\nHere is a chart:\n\n![chart]({base}/beacon.gif?q=SECRET-markdown)\n\n"
            f'<img src="{base}/beacon.gif?q=SECRET-html" alt="x">\n\nThe end.\n')
    with serve(FixedTextEngine(text, piece=9)) as server:
        found = _render_in_blog_and_chat(browser, server.url)
    assert hits == [], f"the page fetched remote images: {hits}"
    assert not any(image["loaded"] for images in found.values() for image in images), found

    # The same page with remote images allowed (--allow-remote-images) does fetch them: the check above
    # is a real one, not a page that never rendered the image.
    with serve(FixedTextEngine(text, piece=9), launch_options={"remote_images": True}) as server:
        _render_in_blog_and_chat(browser, server.url)
    assert any("SECRET-markdown" in hit for hit in hits), hits
