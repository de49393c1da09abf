"""Failed logins are throttled at gradio's real /login route (issue #13, part 4): a studio launched on
127.0.0.1 with --auth-style credentials, raw HTTP form POSTs. The peer is loopback, so (as behind a
reverse proxy) the last X-Forwarded-For entry is the client address: that lets one test act as many
addresses. FixedTextEngine: no model is needed to log in."""

from __future__ import annotations

import time

import httpx

from tests.support.hardening import FixedTextEngine, serve
from writing.access.auth import Credentials

ALICE_PW = "Qx9,Zk:7v#"  # separators inside, and no English trigram (see the leak check below)


def _login(url: str, user: str, password: str, address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return httpx.post(f"{url}login", data={"username": user, "password": password}, headers=headers, timeout=10)


def _wait_for_login_route(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}config", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the studio did not come up")


def test_failed_logins_are_throttled_per_user_and_per_address_over_http():
    users = Credentials({"alice": ALICE_PW, "bob": "bob-pw"})
    with serve(FixedTextEngine("hello"), launch_options={"auth": users}) as server:
        url = server.url
        _wait_for_login_route(url)
        # The login page states the limits (gradio shows only "Incorrect Credentials" on a failure).
        config = httpx.get(f"{url}config", timeout=10)
        assert config.status_code == 401 and "5 failed logins" in config.json()["detail"]["auth_message"]

        # Four failures, then the right password: a success starts alice's count again.
        for _ in range(4):
            assert _login(url, "alice", "wrong", "10.0.0.1").status_code == 400
        assert _login(url, "alice", ALICE_PW, "10.0.0.1").status_code == 200

        # Five failures from five addresses lock alice out everywhere, the right password included.
        for n in range(5):
            assert _login(url, "alice", "wrong", f"10.0.1.{n}").status_code == 400
        refused = _login(url, "alice", ALICE_PW, "10.0.2.1")
        assert refused.status_code == 429, refused.text
        assert "Too many failed logins" in refused.json()["detail"]
        assert 0 < int(refused.headers["Retry-After"]) <= 300
        assert not any(ALICE_PW[i:i + 3] in refused.text for i in range(len(ALICE_PW) - 2))
        with httpx.Client() as client:  # and no session cookie came with the refusal
            assert client.post(f"{url}login", data={"username": "alice", "password": ALICE_PW},
                               headers={"X-Forwarded-For": "10.0.2.2"}).status_code == 429
            assert not client.cookies
        assert _login(url, "bob", "bob-pw", "10.0.2.1").status_code == 200  # other users are not affected

        # One address spraying ten user names is locked out, for every user.
        for n in range(10):
            assert _login(url, f"user{n}", "guess", "10.9.9.9").status_code == 400
        assert _login(url, "bob", "bob-pw", "10.9.9.9").status_code == 429
        assert _login(url, "bob", "bob-pw", "10.9.9.8").status_code == 200
        # Only the entry the nearest proxy appended counts: a client cannot prepend its way out...
        assert _login(url, "bob", "bob-pw", "10.9.9.8, 10.9.9.9").status_code == 429
        # ...and without the header the address is the peer's (127.0.0.1), which has no failures.
        assert _login(url, "bob", "bob-pw").status_code == 200
