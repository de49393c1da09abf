"""Request bodies over REQUEST_MAX_BYTES are refused before gradio reads them (writing/ui/bodylimit.py).

Against the real studio on 127.0.0.1: a declared-too-large body gets 413 without being sent; a chunked
body with no length gets 413 once it passes the cap; ordinary requests, chunked or not, still work.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.request
from urllib.parse import urlparse

import pytest

from tests.support.ui_server import serve_studio
from writing.compose.limits import DRAFT_MAX_CHARS, REQUEST_MAX_BYTES
from writing.engines.local import LocalEngine

JOIN = "/gradio_api/queue/join"


@pytest.fixture(scope="module")
def server(tiny_loaded):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=4096)
    with serve_studio(engine) as running:
        yield running


def _address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", int(parsed.port or 80)


def _response_after_headers(url: str, headers: list[str], body: bytes = b"") -> tuple[int, bytes]:
    """Send a request's headers (and `body`, maybe far less than declared); read the status line and body."""
    with socket.create_connection(_address(url), timeout=30) as sock:
        head = "\r\n".join([f"POST {JOIN} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]).encode()
        sock.sendall(head + body)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply) < reply.find(b"\r\n\r\n") + 4 + _length(reply):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    return status, reply.partition(b"\r\n\r\n")[2]


def _length(reply: bytes) -> int:
    for line in reply.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def test_the_cap_holds_a_whole_draft():
    assert REQUEST_MAX_BYTES >= 6 * DRAFT_MAX_CHARS  # a 4,000,000-character draft, JSON-escaped, still fits


def test_a_declared_huge_body_is_refused_unread(server):
    status, body = _response_after_headers(server.url, ["Content-Type: application/json",
                                                        f"Content-Length: {REQUEST_MAX_BYTES + 1}"])
    assert status == 413  # answered with no byte of the body sent: it was never read
    detail = json.loads(body)["detail"]
    assert "too large" in detail and f"{REQUEST_MAX_BYTES:,}" in detail


def test_a_chunked_body_is_cut_off_at_the_cap(server):
    piece = b"x" * (1 << 20)
    chunks = REQUEST_MAX_BYTES // len(piece) + 2
    conn = http.client.HTTPConnection(*_address(server.url), timeout=60)
    sent = 0
    try:
        conn.putrequest("POST", JOIN)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(chunks):
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while the rest was still being sent: expected
    response = conn.getresponse()
    assert response.status == 413
    assert "too large" in json.loads(response.read())["detail"]
    conn.close()


def _outline_fn_index(url: str) -> int:
    with urllib.request.urlopen(url + "config", timeout=10) as response:
        config = json.load(response)
    return next(dep["id"] for dep in config["dependencies"] if dep.get("api_name") == "outline")


def test_ordinary_requests_pass_chunked_or_not(server):
    # A real event: /outline with an empty topic (refused with a message by the handler, no model work).
    payload = json.dumps({"data": [{"topic": ""}, ""], "fn_index": _outline_fn_index(server.url),
                          "session_hash": "bodylimit"}).encode()
    for chunked in (False, True):
        conn = http.client.HTTPConnection(*_address(server.url), timeout=30)
        conn.request("POST", JOIN, body=iter([payload]) if chunked else payload,
                     headers={"Content-Type": "application/json"}, encode_chunked=chunked)
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200  # joined the queue: the body was read and parsed as usual
