"""Writing Studio: a local AI writing studio. Entry point and command line.

    python studio.py [--model ID|DIR] [--host H] [--port P] [--dtype auto|bfloat16|float32] [--context N]
                     [--quantize auto|none|int8|int4]
    python studio.py --backend openai --base-url http://HOST:PORT/v1 [--api-key KEY] [--remote-model NAME]
"""

from __future__ import annotations

import argparse
import os
import sys

from writing.compose.limits import (
    DEFAULT_QUOTA_MB,
    JOB_SAVE_EVERY_RANGE_S,
    JOB_SAVE_EVERY_S,
    QUOTA_ENV,
    REVISIONS_KEEP_DEFAULT,
    REVISIONS_KEEP_ENV,
    REVISIONS_KEEP_MAX,
    quota_bytes,
)
from writing.engines.base import DEFAULT_CONTEXT
from writing.errors import StudioError
from writing.runtime.load import DEFAULT_MODEL, DTYPES

SHARE_WARNING = ("⚠️ This studio is shared on a public link WITHOUT a login: anyone with the link can use the "
                 "model and read this server's drafts. Restart with --auth user:password (or STUDIO_AUTH).")
HOST_WARNING = ("⚠️ This studio listens on {host}, reachable from other machines, WITHOUT a login: anyone who can "
                "reach it can use the model and read this server's drafts. Restart with --auth user:password "
                "(or STUDIO_AUTH), or listen on 127.0.0.1.")
SPACE_WARNING = ("⚠️ This studio runs on a Hugging Face Space WITHOUT a login: anyone who can open the Space can use "
                 "the model and read its drafts. Add a STUDIO_AUTH secret (user:password), or make the Space private.")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_warning(args: argparse.Namespace, *, logged_in: bool) -> str:
    """Why this studio is open to others without a login ("" when it is not): --share, a non-loopback
    --host (0.0.0.0, a LAN address) or a Hugging Face Space (SPACE_ID)."""
    if logged_in:
        return ""
    if args.share:
        return SHARE_WARNING
    if os.environ.get("SPACE_ID"):
        return SPACE_WARNING
    host = (args.host or "").strip().strip("[]").lower()
    if host not in LOOPBACK and not host.startswith("127."):
        return HOST_WARNING.format(host=host or "all addresses")
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio.py",
        description="Writing Studio: draft blogs, long documents, code and chats with a local Qwen3 model.",
    )
    parser.add_argument("--model", default=os.environ.get("STUDIO_MODEL", DEFAULT_MODEL),
                        help=f"hub id or local checkpoint folder (default: {DEFAULT_MODEL}; env STUDIO_MODEL)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1; env GRADIO_SERVER_NAME; 0.0.0.0 for LAN)")
    default_port = int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860)
    parser.add_argument("--port", type=int, default=default_port,
                        help="port to listen on (default 7860; env PORT or GRADIO_SERVER_PORT)")
    parser.add_argument("--dtype", choices=DTYPES, default=os.environ.get("STUDIO_DTYPE", "auto"),
                        help="precision of activations and unquantised weights: auto picks bf16 where the CPU has "
                             "native bf16; without it fp32 activations when quantising, else bf16 weights (never "
                             "fp32 weights unless asked; env STUDIO_DTYPE, e.g. on a Space)")
    parser.add_argument("--context", type=int, default=None,
                        help=f"token budget for prompt + new tokens (default {DEFAULT_CONTEXT}, or the remote "
                             f"server's own limit when it reports one); longer is refused")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    parser.add_argument("--quantize", choices=("auto", "none", "int8", "int4"), default="auto",
                        help="weight-only quantisation of the local model: auto = int8 where a fused CPU kernel "
                             "path runs (avx512, avx2_vnni or avx2, chosen at start-up; env STUDIO_KERNEL_PATH caps "
                             "it), else none; int4 reads fewer bytes but is lossier (see README, Performance)")
    parser.add_argument("--data-dir", default=None,
                        help="folder for the drafts database and user presets (env STUDIO_DATA_DIR; default: /data "
                             "on a Hugging Face Space with storage, else ~/.local/share/writing-studio or the "
                             "platform's equivalent)")
    access = parser.add_argument_group("access (see README, Security)")
    access.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD",
                        help="require a login; repeat for more users (also env STUDIO_AUTH: one user:password "
                             "per line, e.g. a Space secret; split on the first ':')")
    access.add_argument("--auth-file", default=None, help="file with one user:password per line (# comments)")
    access.add_argument("--share", action="store_true",
                        help="also open a public gradio.live link (use with --auth: anyone with the link can use it)")
    access.add_argument("--rate-limit", type=int, default=os.environ.get("STUDIO_RATE_LIMIT") or "0", metavar="N",
                        help="at most N generation requests per user per --rate-window (default 0 = unlimited; "
                             "env STUDIO_RATE_LIMIT)")
    access.add_argument("--rate-window", type=float, default=60.0, metavar="S",
                        help="the rate limit's window in seconds (default 60)")
    access.add_argument("--quota-mb", type=float, default=os.environ.get(QUOTA_ENV) or DEFAULT_QUOTA_MB, metavar="MB",
                        help=f"storage quota of each user's drafts in MB (default {DEFAULT_QUOTA_MB}; 0 = none; "
                             f"env {QUOTA_ENV})")
    parser.add_argument("--max-section-tokens", type=int, default=None, metavar="N",
                        help="cap the new tokens of every section a background long-form job writes (default: sized "
                             "from each section's word target; small values make quick drafts and fast tests)")
    low, high = JOB_SAVE_EVERY_RANGE_S
    parser.add_argument("--job-save-seconds", type=float, default=JOB_SAVE_EVERY_S, metavar="S",
                        help=f"how often a background long-form job saves the section it is writing, in seconds "
                             f"(default {JOB_SAVE_EVERY_S:g}: a crash loses at most that much streamed text; "
                             f"{low:g}-{high:g})")
    access.add_argument("--revisions-keep", type=int, metavar="N",
                        default=os.environ.get(REVISIONS_KEEP_ENV) or REVISIONS_KEEP_DEFAULT,
                        help=f"earlier texts kept per blog post or long-form section (default "
                        f"{REVISIONS_KEEP_DEFAULT}; 1-{REVISIONS_KEEP_MAX:,}; they count in the quota; env "
                        f"{REVISIONS_KEEP_ENV})")
    access.add_argument("--allow-remote-images", action="store_true",
                        default=os.environ.get("STUDIO_ALLOW_REMOTE_IMAGES", "") not in ("", "0"),
                        help="let rendered model output load images from other servers (default: blocked, so "
                             "a prompt-injected image link cannot send your text away; env STUDIO_ALLOW_REMOTE_IMAGES)")
    remote = parser.add_argument_group("remote server (--backend openai: vLLM, llama.cpp server, Ollama, TGI)")
    parser.add_argument("--backend", choices=("transformers", "openai"), default=os.environ.get("STUDIO_BACKEND",
                        "transformers"), help="transformers: load the model here (default); openai: drive an "
                        "OpenAI-compatible server (env STUDIO_BACKEND)")
    remote.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"),
                        help="the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (env OPENAI_BASE_URL)")
    remote.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"),
                        help="bearer key if the server wants one (env OPENAI_API_KEY)")
    remote.add_argument("--remote-model", default=os.environ.get("STUDIO_REMOTE_MODEL"),
                        help="model name on the server (default: the one it serves; env STUDIO_REMOTE_MODEL)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.data_dir:
        from writing.library.paths import set_data_dir

        set_data_dir(args.data_dir)
    if args.context is not None and args.context < 16:
        print(f"error: --context must be at least 16 tokens, got {args.context}", file=sys.stderr)
        return 2
    from writing.access.auth import Credentials, load_credentials

    try:
        credentials = Credentials(load_credentials(pairs=args.auth, auth_file=args.auth_file))
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rate_limit < 0 or args.rate_window <= 0:
        print("error: --rate-limit must be >= 0 and --rate-window > 0", file=sys.stderr)
        return 2
    low, high = JOB_SAVE_EVERY_RANGE_S
    if not low <= args.job_save_seconds <= high:
        print(f"error: --job-save-seconds must be between {low:g} and {high:g}", file=sys.stderr)
        return 2
    if args.max_section_tokens is not None and args.max_section_tokens < 1:
        print("error: --max-section-tokens must be at least 1", file=sys.stderr)
        return 2
    if args.quota_mb != args.quota_mb or args.quota_mb < 0:
        print("error: --quota-mb must be >= 0 (0 = no quota)", file=sys.stderr)
        return 2
    if not 1 <= args.revisions_keep <= REVISIONS_KEEP_MAX:
        print(f"error: --revisions-keep must be from 1 to {REVISIONS_KEEP_MAX:,}", file=sys.stderr)
        return 2
    banner = exposure_warning(args, logged_in=bool(credentials))
    if banner:
        print(f"[studio] WARNING: {banner}", file=sys.stderr, flush=True)
    try:
        engine = make_engine(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a corrupt checkpoint or broken backend: one line, not a traceback
        print(f"error: could not start the {args.backend} backend with {args.model}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1

    from writing.library.store import open_default_store
    from writing.ui.app import build_app, launch
    from writing.ui.context import UIContext

    store, store_problem = open_default_store(quota_bytes=quota_bytes(args.quota_mb))
    print(f"[studio] drafts: {store.path if store else 'NOT SAVED: ' + store_problem}", flush=True)
    from writing.access.ratelimit import RateLimiter

    limiter = RateLimiter(limit=args.rate_limit, window_s=args.rate_window) if args.rate_limit else None
    jobs = start_jobs(engine, store, max_section_tokens=args.max_section_tokens, revisions_keep=args.revisions_keep,
                      save_every_s=args.job_save_seconds)
    app = build_app(UIContext(engine=engine, store=store, store_problem=store_problem, limiter=limiter,
                              banner=banner, jobs=jobs, revisions_keep=args.revisions_keep))
    print(f"[studio] serving on http://{args.host}:{args.port}"
          + (f" (login: {len(credentials.users)} user(s))" if credentials else ""), flush=True)
    try:
        launch(app, host=args.host, port=args.port, auth=credentials if credentials else None, share=args.share,
               remote_images=args.allow_remote_images)
    finally:
        if jobs is not None:
            jobs.close()  # the section being written stops; its job is left interrupted, resumable
    return 0


def start_jobs(engine, store, *, max_section_tokens: int | None, revisions_keep: int, save_every_s: float):
    """The background long-form jobs (they live in the drafts database: none without one). Jobs a killed
    studio left running become `interrupted`, offered for resuming."""
    if store is None:
        return None
    from writing.workspace.jobs import JobRunner

    runner = JobRunner(engine, store, max_section_tokens=max_section_tokens, revisions_keep=revisions_keep,
                       save_every_s=save_every_s)
    interrupted = runner.start()
    if interrupted:
        print(f"[studio] {interrupted} background document job(s) were interrupted: resume them from the "
              f"Long-form tab or the Library", flush=True)
    return runner


def make_engine(args: argparse.Namespace):
    if args.backend == "openai":
        return make_remote_engine(args)
    from writing.engines.local import LocalEngine
    from writing.runtime import load as model_loading
    from writing.runtime.quant import choose_mode

    model_loading.set_threads(args.threads)
    choice = choose_mode(args.quantize)
    print(f"[studio] quantize: {choice.mode} ({choice.reason})", flush=True)
    loaded = model_loading.load(args.model, dtype=args.dtype, quantize=choice.mode)
    print(f"[studio] loaded {loaded.name} ({loaded.dtype}) in {loaded.load_seconds:.1f}s", flush=True)
    if loaded.quant is not None:
        print(f"[studio] weights: {loaded.quant.line()}", flush=True)
    print(f"[studio] {model_loading.startup_line(choice.mode, choice.reason, loaded)}", flush=True)
    return LocalEngine(loaded.model, loaded.tokenizer, name=loaded.name, dtype=loaded.dtype,
                       context=args.context or DEFAULT_CONTEXT)


def make_remote_engine(args: argparse.Namespace):
    """No local model: every tab streams from the server. A server still starting is a warning, not a stop."""
    from writing.engines.remote import RemoteEngine, RemoteUnreachableError

    engine = RemoteEngine(args.base_url, api_key=args.api_key, model=args.remote_model, context=args.context)
    try:
        print(f"[studio] remote: {engine.describe()}", flush=True)
    except RemoteUnreachableError as exc:
        print(f"[studio] warning: {exc} Requests will retry it.", flush=True)
    return engine


if __name__ == "__main__":
    sys.exit(main())
