"""RemoteEngine's pure logic: parameter mapping, prompt rendering, estimates, error wording.

The behaviour against a real server is in tests/test_remote_server.py.
"""

from __future__ import annotations

import httpx2
import openai
import pytest

from writing.engines.params import make_params
from writing.engines.remote import (
    RemoteAuthError,
    RemoteEngine,
    RemoteNotFoundError,
    RemoteRequestError,
    RemoteTimeoutError,
    RemoteUnreachableError,
    _estimate,
    _server_root,
    chatml,
    request_options,
)
from writing.errors import BusyError, GenerationError, StudioError

URL = "http://127.0.0.1:9/v1"


def test_sampling_fields_map_to_standard_and_extra_body():
    params = make_params(temperature=0.6, top_p=0.9, top_k=20, min_p=0.05, repetition_penalty=1.1,
                         presence_penalty=0.5, max_new_tokens=77, seed=3)
    options = request_options(params)
    assert options["temperature"] == 0.6 and options["top_p"] == 0.9
    assert options["max_tokens"] == 77 and options["seed"] == 3 and options["presence_penalty"] == 0.5
    assert options["extra_body"] == {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "repeat_penalty": 1.1}
    assert options["stream_options"] == {"include_usage": True}


def test_greedy_and_defaults_are_explicit():
    options = request_options(make_params(temperature=0, top_k=0, min_p=0.0), usage=False)
    assert options["temperature"] == 0 and options["top_p"] == 1.0
    # Sent even at their "off" values, so a server's own defaults (llama.cpp: top_k 40) never apply.
    assert options["extra_body"] == {"top_k": 0, "min_p": 0.0}
    assert "seed" not in options and "stream_options" not in options


def test_chatml_matches_the_tiny_tokenizer_template(tiny_loaded):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi 你好"}]
    expected = tiny_loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert chatml(messages) == expected


def test_estimate_is_conservative_for_english_and_cjk(tiny_loaded):
    tokenizer = tiny_loaded.tokenizer
    for text in ["The quick brown fox jumps over the lazy dog. " * 20, "写作的第一步是明确读者。" * 20]:
        messages = [{"role": "user", "content": text}]
        real = len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"])
        assert _estimate(messages) >= real


def test_server_root_strips_v1():
    assert _server_root("http://h:8000/v1/") == "http://h:8000"
    assert _server_root("http://h:8000/api") == "http://h:8000/api"


def test_base_url_is_required():
    with pytest.raises(StudioError, match="--base-url is required"):
        RemoteEngine("")


def _status_error(cls, status: int, body: dict) -> openai.APIStatusError:
    request = httpx2.Request("POST", f"{URL}/chat/completions")
    response = httpx2.Response(status, request=request, json=body)
    return cls(f"Error code: {status}", response=response, body=body.get("error", body))


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (_status_error(openai.AuthenticationError, 401, {"detail": "Invalid API key"}), RemoteAuthError,
         ["refused the API key", "Invalid API key", "--api-key"]),
        (_status_error(openai.BadRequestError, 400, {"error": {"message": "maximum context length is 512"}}),
         RemoteRequestError, ["refused the request (400)", "maximum context length is 512"]),
        (_status_error(openai.UnprocessableEntityError, 422, {"detail": [{"msg": "top_p too big"}]}),
         RemoteRequestError, ["(422)", "top_p too big"]),
        (_status_error(openai.RateLimitError, 429, {"error": {"message": "slow down"}}), BusyError,
         ["busy", "slow down", "text is kept"]),
        (_status_error(openai.InternalServerError, 503, {"detail": "Service is not available"}), BusyError,
         ["busy (503", "Service is not available"]),
        (_status_error(openai.InternalServerError, 500, {"error": {"message": "boom"}}), GenerationError,
         ["failed (500)", "boom"]),
        (openai.APITimeoutError(request=httpx2.Request("POST", URL)), RemoteTimeoutError, ["sent nothing for"]),
        (openai.APIConnectionError(request=httpx2.Request("POST", URL)), RemoteUnreachableError,
         ["Cannot reach", URL, "--base-url"]),
    ],
)
def test_errors_are_readable(exc, kind, words):
    engine = RemoteEngine(URL, model="m", max_retries=0, connect_timeout_s=0.5)
    try:
        error = engine._error(exc)
    finally:
        engine.close()
    assert type(error) is kind
    for word in words:
        assert word in str(error)


def test_not_found_names_the_model_and_the_url_rule():
    engine = RemoteEngine(URL, model="qwen-x", max_retries=0, connect_timeout_s=0.5)
    try:  # the model listing fails (nothing listens): the message still stands on its own
        error = engine._error(_status_error(openai.NotFoundError, 404, {"error": {"message": "no such model"}}))
    finally:
        engine.close()
    assert isinstance(error, RemoteNotFoundError)
    assert "qwen-x" in str(error) and "no such model" in str(error) and "/v1" in str(error)
