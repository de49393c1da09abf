import pytest

from writing.access.auth import AuthError, Credentials, load_credentials
from writing.access.ratelimit import LoginThrottle, LoginThrottled, RateLimiter
from writing.errors import BusyError


def test_credentials_from_flags_file_and_env(tmp_path):
    auth_file = tmp_path / "users.txt"
    auth_file.write_text("# team\nbob:pa:ss:word\n\ncarol:c\n", encoding="utf-8")
    users = load_credentials(pairs=["alice:secret"], auth_file=auth_file, env={"STUDIO_AUTH": "dan:d1\n erin:e2"})
    assert users == {"alice": "secret", "bob": "pa:ss:word", "carol": "c", "dan": "d1", "erin": "e2"}
    check = Credentials(users)
    assert check("alice", "secret") and check("bob", "pa:ss:word")
    assert not check("alice", "wrong") and not check("mallory", "secret") and not check("alice", "")


@pytest.mark.parametrize("bad", ["nocolon", ":nouser", "user:", "two words:x"])
def test_malformed_entries_are_clear_errors_without_the_password(bad):
    with pytest.raises(AuthError) as info:
        load_credentials(pairs=[bad], env={})
    assert "user:password" in str(info.value) or "spaces" in str(info.value)
    if ":" in bad and bad.split(":", 1)[1]:
        assert bad.split(":", 1)[1] not in str(info.value)


def test_unreadable_auth_file_is_a_clear_error(tmp_path):
    with pytest.raises(AuthError, match="cannot read"):
        load_credentials(auth_file=tmp_path / "missing.txt", env={})


def test_no_credentials_means_an_open_studio():
    assert not Credentials(load_credentials(env={}))


def test_rate_limit_per_user_with_a_sliding_window():
    now = [0.0]
    limiter = RateLimiter(limit=2, window_s=10, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    limiter.check("b")  # other users are not affected
    with pytest.raises(BusyError, match="at most 2 every 10 s"):
        limiter.check("a")
    now[0] = 10.5
    limiter.check("a")


# ---------------------------------------------------------------- passwords with any character (#13 part 4)

ODD_PASSWORDS = ["abc,def:ghi", "s3cr3t,tail", "a:b:c", " spaced out ", "#hash,comma", "p@ss w0rd,,::", "密码,口令:x",
                 "tab\there"]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_any_character_in_a_password_from_every_source(tmp_path, password):
    auth_file = tmp_path / "users.txt"
    auth_file.write_text(f"# users\nbob:{password}\n", encoding="utf-8")
    users = load_credentials(pairs=[f"alice:{password}"], auth_file=auth_file,
                             env={"STUDIO_AUTH": f"carol:{password}\ndan:plain"})
    assert users == {"alice": password, "bob": password, "carol": password, "dan": "plain"}
    # One pair ending with a newline: the comma belongs to the password.
    assert load_credentials(env={"STUDIO_AUTH": f"erin:{password}\n"}) == {"erin": password}
    assert Credentials(users)("carol", password) and not Credentials(users)("carol", password.strip() + "x")


def test_a_single_line_studio_auth_with_a_comma_is_refused_not_guessed():
    # The two examples: formerly alice got "abc" and a user "def" appeared; "tail" was echoed.
    messages = set()
    for value in ("alice:abc,def:ghi", "alice:s3cr3t,tail", "alice:Qx9,Zk:7v"):
        with pytest.raises(AuthError, match="one user:password pair per line") as info:
            load_credentials(env={"STUDIO_AUTH": value})
        messages.add(str(info.value))
        assert "tail" not in str(info.value) and "def" not in str(info.value).split("pairs")[0]
    assert len(messages) == 1  # the same words whatever the value: nothing of it is repeated


def _substrings(secret: str, size: int = 3) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def _assert_nothing_of(password: str, message: str) -> None:
    leaked = [piece for piece in _substrings(password) if piece in message]
    assert not leaked, f"error message repeats part of the password {leaked}: {message!r}"


# Passwords full of the separators, made of no English trigram, so any 3 characters of them found in
# a message can only have come from the password.
SECRET_PASSWORDS = ["Qx9,Zk:7v#", "j$K,,::w8 Z", " Vq z8,Jw ", "密码,口令:x9Q", "Wz\tq,Yv:kk", "7Jq:Xz,Hw:Qm"]


@pytest.mark.parametrize("password", SECRET_PASSWORDS)
def test_no_error_message_contains_any_part_of_a_password(tmp_path, password):
    """Every malformed configuration around a password with separators in it: the error names where,
    never what (no substring of 3+ characters of the password appears)."""
    fragment = password.replace(":", "").strip()  # a colon-free piece of it: a line that is no pair
    broken = [
        {"env": {"STUDIO_AUTH": f"alice:{password},bob:x"}},  # ambiguous single line
        {"env": {"STUDIO_AUTH": f"alice:{password[:3]}\n{fragment[3:]}\n"}},  # a password broken across lines
        {"env": {"STUDIO_AUTH": f"alice:x\n{fragment}\n"}},  # a password alone on its line
        {"env": {"STUDIO_AUTH": f":{password}\n"}},  # no user
        {"env": {"STUDIO_AUTH": f"two words:{password}\n"}},  # bad user name
        {"pairs": [fragment]},
        {"pairs": [f":{password}"]},
        {"pairs": [f"bad\tuser:{password}"]},
        {"file": f"ok:1\n{fragment}\n"},
        {"file": f"bad user:{password}\n"},
    ]
    for case in broken:
        auth_file = None
        if "file" in case:
            auth_file = tmp_path / "users.txt"
            auth_file.write_text(case["file"], encoding="utf-8")
        with pytest.raises(AuthError) as info:
            load_credentials(pairs=case.get("pairs", ()), auth_file=auth_file, env=case.get("env", {}))
        _assert_nothing_of(password, str(info.value))
        _assert_nothing_of(fragment, str(info.value))


# ---------------------------------------------------------------- login throttle (unit; HTTP in test_login_throttle.py)

def test_login_throttle_locks_a_user_after_five_failures_and_a_success_resets_it():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, max_address_failures=10, window_s=300, lockout_s=300,
                             clock=lambda: now[0])
    for _ in range(4):
        throttle.check("alice", "1.1.1.1")
        throttle.failed("alice", "1.1.1.1")
    throttle.succeeded("alice")  # the right password: the count starts again
    for _ in range(4):
        throttle.failed("alice", "2.2.2.2")
    throttle.check("alice", "3.3.3.3")  # 4 failures since the success: still allowed
    throttle.failed("alice", "2.2.2.2")  # the 5th
    with pytest.raises(LoginThrottled, match="locked for 300 more second") as info:
        throttle.check("alice", "4.4.4.4")  # from any address
    assert info.value.retry_after_s == 300
    throttle.check("bob", "4.4.4.4")  # other users are not affected
    now[0] = 299.0
    with pytest.raises(LoginThrottled):
        throttle.check("alice", "4.4.4.4")
    now[0] = 300.5
    throttle.check("alice", "4.4.4.4")


def test_login_throttle_locks_an_address_spraying_many_users():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, max_address_failures=10, clock=lambda: now[0])
    for n in range(10):
        throttle.failed(f"user{n}", "6.6.6.6")
    with pytest.raises(LoginThrottled):
        throttle.check("carol", "6.6.6.6")  # a user with no failures, from the locked address
    throttle.check("carol", "7.7.7.7")
    throttle.succeeded("user9")  # a success never clears the address
    with pytest.raises(LoginThrottled):
        throttle.check("user9", "6.6.6.6")


def test_failures_older_than_the_window_do_not_count():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=300, clock=lambda: now[0])
    for step in range(20):  # one failure a minute and a half: never 5 within 5 minutes
        now[0] = step * 90.0
        throttle.check("alice", "1.1.1.1")
        throttle.failed("alice", "1.1.1.1")
