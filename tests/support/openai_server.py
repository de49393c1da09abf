"""A small, real OpenAI-compatible HTTP server on 127.0.0.1 (stdlib http.server, one thread a request)
whose answers a test sets: the context it reports the way vLLM (max_model_len in /v1/models) or
llama.cpp (n_ctx in /props) do, overload answers (429, 503), a server that says nothing until the
client times out, and streams held open to count how many requests run at once.

    with openai_server(mode="vllm", context=3000) as server:
        engine = RemoteEngine(server.url)           # server.url ends in /v1
        server.answer = "busy-429"                  # the next chat requests get a 429
        server.gate.clear(); server.open_streams    # streams wait on the gate; how many are open

It has no tokenizer endpoint, so RemoteEngine estimates prompt sizes (as with Ollama).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "stub-model"


class StubState:
    def __init__(self, mode: str, context: int | None):
        self.mode = mode  # "vllm": max_model_len in /v1/models; "llama.cpp": /props n_ctx; "plain": neither
        self.context = context
        self.answer = "ok"  # ok | busy-429 | busy-503 | silent (sends nothing for `silent_s`)
        self.silent_s = 5.0
        self.text = ["Hello", " from", " the", " stub", " server", "."]
        self.gate = threading.Event()  # streams send their first piece, then wait here before the rest
        self.gate.set()
        self.lock = threading.Lock()
        self.open_streams = 0
        self.most_streams = 0
        self.chat_requests = 0
        self.prompts: list[str] = []
        self.url = ""

    def enter(self) -> None:
        with self.lock:
            self.open_streams += 1
            self.most_streams = max(self.most_streams, self.open_streams)

    def leave(self) -> None:
        with self.lock:
            self.open_streams -= 1


def _handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") == "/v1/models":
                entry = {"id": MODEL, "object": "model", "owned_by": "stub"}
                if state.mode == "vllm" and state.context:
                    entry["max_model_len"] = state.context
                self._json(200, {"object": "list", "data": [entry]})
            elif self.path == "/props" and state.mode == "llama.cpp" and state.context:
                self._json(200, {"default_generation_settings": {"n_ctx": state.context}, "total_slots": 4})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            if self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            with state.lock:
                state.chat_requests += 1
                state.prompts.append(" ".join(str(m.get("content")) for m in body.get("messages", [])))
            answer = state.answer
            if answer == "busy-429":
                self._json(429, {"error": {"message": "Too many requests: all slots are busy", "type": "rate"}})
            elif answer == "busy-503":
                self._json(503, {"detail": "Service Unavailable: the replica is full"})
            elif answer == "silent":
                time.sleep(state.silent_s)  # longer than the client's read timeout
                with contextlib.suppress(OSError):
                    self._json(500, {"error": {"message": "too late"}})
            else:
                self._stream(body)

        def _chunk(self, delta: dict, finish: str | None = None) -> bytes:
            data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            line = f"data: {json.dumps(data)}\n\n".encode()
            return f"{len(line):x}\r\n".encode() + line + b"\r\n"

        def _stream(self, body: dict) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            state.enter()
            try:
                pieces = state.text[: max(1, int(body.get("max_tokens") or len(state.text)))]
                self.wfile.write(self._chunk({"role": "assistant", "content": pieces[0]}))
                self.wfile.flush()
                while not state.gate.wait(0.05):
                    pass
                for piece in pieces[1:]:
                    self.wfile.write(self._chunk({"content": piece}))
                finish = "length" if len(pieces) < len(state.text) else "stop"
                self.wfile.write(self._chunk({}, finish))
                done = b"data: [DONE]\n\n"
                self.wfile.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass  # the client went away (Stop)
            finally:
                state.leave()

    return Handler


@contextlib.contextmanager
def openai_server(*, mode: str = "plain", context: int | None = None) -> Iterator[StubState]:
    state = StubState(mode, context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="openai-stub", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        state.gate.set()
        server.shutdown()
        server.server_close()
