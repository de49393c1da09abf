"""Writing Studio: a local AI writing studio. Entry point and command line.

    python studio.py [--model ID|DIR] [--host H] [--port P] [--dtype auto|bfloat16|float32] [--context N]
"""

from __future__ import annotations

import argparse
import os
import sys

from writing.engine import DEFAULT_CONTEXT
from writing.errors import StudioError
from writing.model import DEFAULT_MODEL, DTYPES


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
    parser.add_argument("--dtype", choices=DTYPES, default="auto",
                        help="weight precision: auto picks bf16 when the CPU has native bf16, else fp32 if it fits")
    parser.add_argument("--context", type=int, default=DEFAULT_CONTEXT,
                        help=f"token budget for prompt + new tokens (default {DEFAULT_CONTEXT}); longer is refused")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.context < 16:
        print(f"error: --context must be at least 16 tokens, got {args.context}", file=sys.stderr)
        return 2
    try:
        engine = make_engine(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    from writing.ui.app import UIContext, build_app

    app = build_app(UIContext(engine=engine))
    print(f"[studio] serving on http://{args.host}:{args.port}", flush=True)
    app.launch(server_name=args.host, server_port=args.port)
    return 0


def make_engine(args: argparse.Namespace):
    from writing import model as model_loading
    from writing.local import LocalEngine

    model_loading.set_threads(args.threads)
    loaded = model_loading.load(args.model, dtype=args.dtype)
    print(f"[studio] loaded {loaded.name} ({loaded.dtype}) in {loaded.load_seconds:.1f}s", flush=True)
    return LocalEngine(loaded.model, loaded.tokenizer, name=loaded.name, dtype=loaded.dtype, context=args.context)


if __name__ == "__main__":
    sys.exit(main())
