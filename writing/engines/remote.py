"""RemoteEngine: an OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, TGI).

Why the `openai` SDK rather than huggingface_hub's InferenceClient: every server above is tested
by its authors against this SDK; it streams server-sent events into typed chunks, passes
server-specific sampling fields through `extra_body` untouched, exposes the HTTP response so
Stop can close the connection, and raises one exception class per status code (401, 404, 400,
422, 429, 5xx, timeout, unreachable), which map one to one onto the studio's errors.
InferenceClient targets the Hugging Face router first and folds those statuses into one
HfHubHTTPError that we would have to pick apart again.

Stop: a watcher thread waits on the request's cancel Event and shuts the TCP socket down, which
wakes a read blocked on a slow server and tells the server the client has gone (llama.cpp and
vLLM then abort the request and free the slot). The stream loop also checks the Event between
chunks, and closing the generator (client disconnect) closes the response the same way.

Token budget: counted by the server's own tokenizer where one is exposed (vLLM `/tokenize`
with the chat template applied by the server; llama.cpp server `/apply-template` + `/tokenize`;
llama-cpp-python `/extras/tokenize/count` on a ChatML rendering), else a conservative estimate
of one token per two UTF-8 bytes. The budget error says which one was used.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import openai

from writing.engines.base import DEFAULT_CONTEXT, GenerationStats, check_budget
from writing.engines.messages import normalize
from writing.engines.params import SamplingParams
from writing.errors import BusyError, GenerationError, ModelUnavailableError, StudioError

_WATCH_S = 0.05  # how often the Stop watcher re-checks its request's cancel Event
_BYTES_PER_TOKEN = 2  # conservative: Qwen's BPE averages ~4 bytes/token on English, ~2.5-3 on CJK
_MESSAGE_OVERHEAD = 4  # <|im_start|>, role, newline, <|im_end|>
_T = TypeVar("_T")


class RemoteUnreachableError(ModelUnavailableError):
    """No answer at the base URL: the server is down, the URL is wrong, or a firewall is in the way."""


class RemoteAuthError(StudioError):
    """401/403: the server refused the API key."""


class RemoteNotFoundError(ModelUnavailableError):
    """404: no such model on the server, or the base URL does not point at an OpenAI-compatible API."""


class RemoteRequestError(StudioError):
    """400/422: the server refused the request; the message is the server's own."""


class RemoteTimeoutError(GenerationError):
    """The server accepted the connection but sent nothing for longer than the read timeout."""


class RemoteEngine:
    """An OpenAI-compatible server behind the Engine protocol. Thread-safe; requests run concurrently."""

    backend = "openai"

    def __init__(self, base_url: str, *, api_key: str | None = None, model: str | None = None,
                 context: int | None = None, timeout_s: float = 600.0, connect_timeout_s: float = 10.0,
                 max_retries: int = 1, include_usage: bool = True, max_concurrency: int = 8,
                 extra_body: dict[str, Any] | None = None, count: str = "server"):
        if not base_url:
            raise StudioError("--base-url is required for --backend openai (or set OPENAI_BASE_URL), "
                              "for example http://127.0.0.1:8000/v1")
        if context is not None and context < 16:
            raise ValueError(f"context must be at least 16 tokens, got {context}")
        self.base_url = base_url.rstrip("/")  # used to connect only: it may carry user:password@
        self.shown_url = redact_url(self.base_url)  # what every message, the status line and the logs show
        self._secrets = _userinfo_forms(self.base_url)
        # The SDK insists on a key; local servers without auth accept any placeholder.
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.include_usage = include_usage
        # Server-specific request fields sent with every request, e.g. {"chat_template_kwargs": {...}}
        # for vLLM or {"logit_bias": {...}}; they override the mapped sampling fields of the same name.
        self.extra_body = dict(extra_body or {})
        self.max_concurrency = max_concurrency  # the UI may run this many requests at once
        self.timeout_s = timeout_s
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=max_retries,
                                     timeout=timeout)
        # Non-OpenAI endpoints (tokenizer, props) live under the server root, not under /v1.
        self._http = httpx.Client(base_url=_server_root(self.base_url), timeout=timeout,
                                  headers={"Authorization": f"Bearer {self.api_key}"})
        self._model = model
        self._context = context
        self.context_source = "--context" if context is not None else ""
        if count not in ("server", "estimate"):
            raise ValueError(f"count must be 'server' or 'estimate', got {count!r}")
        # "estimate" never asks the server: one round trip less, for servers whose tokenizer is slow
        # or waits behind running generations (llama-cpp-python).
        self._counter: str | None = None if count == "server" else "estimate"  # probed once when None

    # -- identity ------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        if self._model is None:
            self._model = self._default_model()
        return self._model

    @property
    def name(self) -> str:
        host = urlsplit(self.shown_url).netloc or self.shown_url
        return f"{self._model or '?'} @ {host}"

    @property
    def context(self) -> int:
        """--context, else the server's own limit once known, else DEFAULT_CONTEXT. No network I/O: the UI's
        status line reads it every few seconds, also while the server is down."""
        return self._context or DEFAULT_CONTEXT

    def _resolve_context(self) -> int:
        if self._context is None:
            found = self._server_context()  # raises if unreachable: resolved again on the next request
            self._context, self.context_source = found or (DEFAULT_CONTEXT, f"default {DEFAULT_CONTEXT}")
        return self._context

    def describe(self) -> str:
        """Connect, resolve model, context and tokenizer, and say what was found (StudioError if unreachable)."""
        model, context = self.model, self._resolve_context()
        self._count([{"role": "user", "content": "hello"}])  # find out how prompts will be counted
        return (f"{model} at {self.shown_url}, context {context} tokens ({self.context_source}), "
                f"prompt tokens {self._count_how()}")

    def close(self) -> None:
        self._client.close()
        self._http.close()

    def _default_model(self) -> str:
        try:
            models = [m.id for m in self._client.models.list()]
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        if not models:
            raise RemoteNotFoundError(f"The server at {self.shown_url} lists no models; pass --remote-model NAME.")
        if len(models) > 1:
            raise StudioError(f"The server at {self.shown_url} serves several models: choose one with "
                              f"--remote-model ({', '.join(models)}).")
        return models[0]

    def _server_context(self) -> tuple[int, str] | None:
        """The server's context length: vLLM's max_model_len in /v1/models, llama.cpp's /props n_ctx."""
        model = self.model  # raises if the server is unreachable
        try:
            listing = self._http.get(f"{self.base_url}/models")
            if listing.status_code == 200:
                for entry in listing.json().get("data", []):
                    if entry.get("id") == model and isinstance(entry.get("max_model_len"), int):
                        return entry["max_model_len"], "the server's max_model_len"
            props = self._http.get("/props")
            if props.status_code == 200:
                body = props.json()
                n_ctx = body.get("n_ctx") or (body.get("default_generation_settings") or {}).get("n_ctx")
                if isinstance(n_ctx, int) and n_ctx > 0:
                    return n_ctx, "the server's n_ctx"
        except (httpx.HTTPError, ValueError, AttributeError):
            pass  # a server without these endpoints: fall back to the default budget
        return None

    # -- token budget --------------------------------------------------------------------------

    def count_tokens(self, messages: Sequence[dict[str, Any]]) -> int:
        return self._count(normalize(messages))[0]

    def _count_how(self) -> str:
        return _COUNT_HOW[self._counter or "estimate"]

    def _count(self, messages: list[dict[str, str]]) -> tuple[int, str]:
        """(prompt tokens, how they were counted). Probes the server's tokenizer endpoints once."""
        if self._counter == "estimate":
            return _estimate(messages), _COUNT_HOW["estimate"]
        for kind in [self._counter] if self._counter else list(_COUNTERS):
            try:
                count = _COUNTERS[kind](self, messages)
            except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                raise RemoteTimeoutError(f"The server at {self.shown_url} did not count the prompt within "
                                         f"{self.timeout_s:.0f}s: it may be overloaded. Your text is kept.") from None
            except httpx.TransportError as exc:  # refused, DNS, connect timeout, reset
                raise RemoteUnreachableError(self._unreachable(exc)) from None
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                count = None  # not this kind of server
            if count is not None:
                self._counter = kind
                return count, _COUNT_HOW[kind]
        # No tokenizer endpoint answered: remember it, so later requests do not probe again.
        self._counter = "estimate"
        return _estimate(messages), _COUNT_HOW["estimate"]

    def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        response = self._http.post(path, json=body)
        if response.status_code in (401, 403):
            raise RemoteAuthError(self._auth_message(response.status_code, _body_message(response)))
        if response.status_code != 200:
            return None
        data = response.json()
        return data if isinstance(data, dict) else None

    def _count_vllm(self, messages: list[dict[str, str]]) -> int | None:
        data = self._post_json("/tokenize", {"model": self.model, "messages": messages,
                                             "add_generation_prompt": True})
        return int(data["count"]) if data and "count" in data else None

    def _count_llama_cpp(self, messages: list[dict[str, str]]) -> int | None:
        rendered = self._post_json("/apply-template", {"messages": messages})
        if not rendered or not isinstance(rendered.get("prompt"), str):
            return None
        data = self._post_json("/tokenize", {"content": rendered["prompt"], "add_special": True,
                                             "parse_special": True})
        return len(data["tokens"]) if data and isinstance(data.get("tokens"), list) else None

    def _count_llama_cpp_python(self, messages: list[dict[str, str]]) -> int | None:
        data = self._post_json("/extras/tokenize/count", {"model": self.model, "input": chatml(messages)})
        return int(data["count"]) if data and "count" in data else None

    # -- streaming -----------------------------------------------------------------------------

    def stream(self, messages: Sequence[dict[str, Any]], params: SamplingParams,
               cancel: threading.Event | None = None, *,
               stats: GenerationStats | None = None) -> Iterator[str]:
        cancel = cancel if cancel is not None else threading.Event()
        stats = stats if stats is not None else GenerationStats()
        chat = normalize(messages)
        # llama-cpp-python tokenizes (and lists models) behind the same lock as generation: while
        # another writer's request runs, these wait for it. Stop must still work then.
        # The model name and context may need the server too (first use after it was down).
        prepared = _cancellable(lambda: (self._count(chat), self.model, self._resolve_context()), cancel)
        if prepared is None:
            stats.finish_reason = "cancelled"
            return
        (stats.prompt_tokens, how), model, context = prepared
        check_budget(stats.prompt_tokens, params.max_new_tokens, context, how=how)
        if cancel.is_set():
            stats.finish_reason = "cancelled"
            return
        stats.started_at = time.perf_counter()
        try:
            response = self._open(model, chat, params)
        except openai.OpenAIError as exc:
            stats.finished_at, stats.finish_reason = time.perf_counter(), "error"
            raise self._error(exc) from None
        try:
            yield from self._read(response, chat, params, cancel, stats)
        finally:
            stats.finished_at = time.perf_counter()

    def _open(self, model: str, chat: list[dict[str, str]], params: SamplingParams) -> openai.Stream:
        options = request_options(params, usage=self.include_usage)
        options["extra_body"].update(self.extra_body)
        try:
            return self._client.chat.completions.create(model=model, messages=chat, stream=True, **options)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if not (self.include_usage and "stream_options" in str(exc)):
                raise
        # An older server that rejects stream_options: stop asking for usage (tokens are then counted
        # from the deltas) and send the request again.
        self.include_usage = False
        return self._open(model, chat, params)

    def _diagnose(self, chat: list[dict[str, str]], params: SamplingParams) -> None:
        """Ask once more without streaming, for one token, to get the server's reason for an empty stream.

        llama-cpp-python refuses a prompt over its context only inside the stream: the SSE response
        has already started with 200, so the stream just ends. The same request without streaming
        returns a 400 with the server's message ("This model's maximum context length is ...").
        """
        # One retry even when the engine has none: the server may have dropped the stream's connection, and the
        # pool can hand this request that dead connection ("Connection reset by peer" before any answer).
        client = self._client.with_options(max_retries=max(1, self._client.max_retries))
        try:
            client.chat.completions.create(model=self.model, messages=chat, stream=False, max_tokens=1,
                                           temperature=0, extra_body=self.extra_body)
        except openai.OpenAIError as exc:
            raise self._error(exc) from None

    def _read(self, response: openai.Stream, chat: list[dict[str, str]], params: SamplingParams,
              cancel: threading.Event, stats: GenerationStats) -> Iterator[str]:
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(response, cancel, done), name="studio-remote-stop",
                                   daemon=True)
        watcher.start()
        finish = ""
        drained = False
        try:
            for chunk in response:
                if chunk.usage is not None:  # the last chunk when stream_options.include_usage is honoured
                    stats.prompt_tokens = chunk.usage.prompt_tokens or stats.prompt_tokens
                    stats.new_tokens = chunk.usage.completion_tokens or stats.new_tokens
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    text = choice.delta.content if choice.delta else None
                    if text:
                        if stats.first_token_at is None:
                            stats.first_token_at = time.perf_counter()
                        # One delta per token on most servers (llama-cpp-python merges a token that ends
                        # mid-character into the next); the usage chunk, when sent, corrects it at the end.
                        stats.new_tokens += 1
                        yield text
                if cancel.is_set():
                    break
            else:
                drained = True
        except openai.OpenAIError as exc:
            if not cancel.is_set():  # an error after our own Stop is just the closed socket
                stats.finish_reason = "error"
                raise self._error(exc, streaming=True) from None
        finally:
            done.set()
            if not drained:  # stopped early (Stop, disconnect, error): make the server abort now
                _shutdown(response)
            response.close()
            watcher.join()
        if cancel.is_set() and not finish:
            stats.finish_reason = "cancelled"
            return
        if not finish:
            stats.finish_reason = "error"
            if stats.new_tokens == 0:
                self._diagnose(chat, params)  # raises the server's own refusal when there is one
            raise GenerationError(
                f"The server at {self.shown_url} closed the stream before the answer finished (no finish_reason"
                f" after {stats.new_tokens} tokens); the text so far is kept. The server's log says why"
                f" (a prompt over its context length, or a crash)."
            )
        stats.finish_reason = "length" if finish == "length" else "stop"

    # -- errors --------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """`text` with the base URL's user:password (in any spelling) replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _unreachable(self, exc: BaseException) -> str:
        cause = exc.__cause__ or exc
        return (f"Cannot reach the model server at {self.shown_url} ({type(cause).__name__}: "
                f"{self.redact(str(cause))}). "
                f"Is it running? Check --base-url / OPENAI_BASE_URL. Your text is kept.")

    def _auth_message(self, status: int, detail: str) -> str:
        return (f"The server at {self.shown_url} refused the API key ({status}: {detail}). "
                f"Set the right key with --api-key or OPENAI_API_KEY.")

    def _error(self, exc: openai.OpenAIError, *, streaming: bool = False) -> StudioError:
        """One readable StudioError per failure kind; the server's own message is always quoted."""
        if isinstance(exc, openai.APITimeoutError):
            return RemoteTimeoutError(
                f"The server at {self.shown_url} sent nothing for {self.timeout_s:.0f}s: it may be overloaded "
                f"or stuck. Your text is kept; try again, or raise the timeout."
            )
        if isinstance(exc, openai.APIConnectionError):
            return RemoteUnreachableError(self._unreachable(exc))
        if not isinstance(exc, openai.APIStatusError):  # e.g. an error event in the middle of a stream
            detail = self.redact(getattr(exc, "message", None) or str(exc))
            when = " while streaming" if streaming else ""
            return GenerationError(f"The server at {self.shown_url} reported an error{when}: {detail}")
        status, detail = exc.status_code, self.redact(_server_message(exc))
        if status in (401, 403):
            return RemoteAuthError(self._auth_message(status, detail))
        if status == 404:
            return RemoteNotFoundError(
                f"The server at {self.shown_url} has no model '{self._model}' or no chat-completions endpoint "
                f"(404: {detail}).{self._available_models()} Check --remote-model, and that --base-url ends in "
                f"/v1 for vLLM, llama.cpp and Ollama."
            )
        if status in (400, 413, 422):
            return RemoteRequestError(f"The server refused the request ({status}): {detail}")
        if status in (429, 503):
            return BusyError(f"The server at {self.shown_url} is busy ({status}: {detail}). Your text is kept: "
                             f"try again in a moment.")
        return GenerationError(f"The server at {self.shown_url} failed ({status}): {detail}")

    def _available_models(self) -> str:
        try:
            names = [m.id for m in self._client.models.list()]
        except openai.OpenAIError:
            return ""
        return f" It serves: {', '.join(names)}." if names else ""


def request_options(params: SamplingParams, *, usage: bool = True) -> dict[str, Any]:
    """SamplingParams -> chat.completions.create() keyword arguments.

    Standard fields go as themselves; top_k, min_p and the repetition penalty are not in the OpenAI
    API, so they travel in extra_body under the names vLLM (repetition_penalty) and llama.cpp
    (repeat_penalty) read. Servers ignore fields they do not know. top_k and min_p are always sent,
    so a server's own defaults (llama.cpp: top_k 40, min_p 0.05) never silently replace ours.
    """
    extra: dict[str, Any] = {"top_k": params.top_k, "min_p": params.min_p}
    if params.repetition_penalty != 1.0:
        extra.update(repetition_penalty=params.repetition_penalty, repeat_penalty=params.repetition_penalty)
    options: dict[str, Any] = {
        "max_tokens": params.max_new_tokens,  # max_completion_tokens is not read by llama.cpp or Ollama
        "temperature": params.temperature,  # 0 = greedy on vLLM, llama.cpp, Ollama and TGI
        "top_p": 1.0 if params.greedy else params.top_p,
        "presence_penalty": params.presence_penalty,
        "extra_body": extra,
    }
    if params.seed is not None:
        options["seed"] = params.seed
    if usage:
        options["stream_options"] = {"include_usage": True}
    return options


def chatml(messages: Sequence[dict[str, str]]) -> str:
    """The ChatML rendering Qwen3-2507 uses (no thinking block), with the assistant turn opened."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def _estimate(messages: Sequence[dict[str, str]]) -> int:
    """Over- rather than under-count: a refused long prompt is better than a server error mid-draft."""
    size = sum(len(m["content"].encode("utf-8")) + len(m["role"]) for m in messages)
    return -(-size // _BYTES_PER_TOKEN) + _MESSAGE_OVERHEAD * (len(messages) + 1)


_COUNTERS = {
    "vllm": RemoteEngine._count_vllm,
    "llama.cpp": RemoteEngine._count_llama_cpp,
    "llama-cpp-python": RemoteEngine._count_llama_cpp_python,
}
_COUNT_HOW = {
    "vllm": "counted by the server's tokenizer and chat template (/tokenize)",
    "llama.cpp": "counted by the server's tokenizer and chat template (/apply-template, /tokenize)",
    "llama-cpp-python": "counted by the server's tokenizer on a ChatML rendering (/extras/tokenize/count)",
    "estimate": "estimated as UTF-8 bytes / 2: the server exposes no tokenizer",
}


def redact_url(url: str) -> str:
    """The URL with any user:password@ replaced by ***@ (a --base-url may carry basic-auth credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***" if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, "***@" + parts.netloc.rsplit("@", 1)[1], parts.path, parts.query,
                       parts.fragment))


def _userinfo_forms(url: str) -> list[str]:
    """The credentials of a URL as they may appear in an error text (user:password, and the password alone),
    raw and percent-decoded, longest first."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return []
    if "@" not in netloc:
        return []
    userinfo = netloc.rsplit("@", 1)[0]
    forms = {userinfo, unquote(userinfo)}
    if ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        forms |= {password, unquote(password)}
    return sorted((f for f in forms if f), key=len, reverse=True)


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _server_message(exc: openai.APIStatusError) -> str:
    """The server's own words: OpenAI {"error": {"message"}}, FastAPI {"detail"}, or the raw text."""
    body = exc.body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value
            if value:
                return str(value)
    try:
        return exc.response.text.strip()[:500] or exc.message
    except Exception:  # noqa: BLE001 - a streamed body may be unreadable; the SDK message still helps
        return exc.message


def _body_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        value = body.get("error") or body.get("detail") or body.get("message") or body
        return str(value.get("message", value) if isinstance(value, dict) else value)
    return str(body)


def _cancellable(work: Callable[[], _T], cancel: threading.Event) -> _T | None:
    """Run `work` in a helper thread; None as soon as `cancel` is set (the thread's result is then dropped)."""
    box: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append(("ok", work()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box.append(("error", exc))
        finally:
            done.set()

    threading.Thread(target=run, name="studio-remote-count", daemon=True).start()
    while not done.wait(_WATCH_S):
        if cancel.is_set():
            return None
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def _watch(response: openai.Stream, cancel: threading.Event, done: threading.Event) -> None:
    """Shut the connection down as soon as the request is cancelled, even mid-read."""
    while not done.is_set():
        if cancel.wait(_WATCH_S):
            _shutdown(response)
            return


def _shutdown(response: openai.Stream) -> None:
    """Shut the TCP socket down under the stream: a blocked read returns at once, the server sees EOF.

    `shutdown` (not `close`) is what wakes a recv() blocked in another thread. For TLS sockets the
    plain socket method is called so the SSL object the reader is using is left alone.
    """
    try:
        network = response.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass  # already closed, or a transport without a socket: the between-chunks check still stops it
