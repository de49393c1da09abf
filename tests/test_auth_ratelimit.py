import pytest

from writing.access.auth import AuthError, Credentials, load_credentials
from writing.access.ratelimit import RateLimiter
from writing.errors import BusyError


def test_credentials_from_flags_file_and_env(tmp_path):
    auth_file = tmp_path / "users.txt"
    auth_file.write_text("# team\nbob:pa:ss:word\n\ncarol:c\n", encoding="utf-8")
    users = load_credentials(pairs=["alice:secret"], auth_file=auth_file, env={"STUDIO_AUTH": "dan:d1, erin:e2"})
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
