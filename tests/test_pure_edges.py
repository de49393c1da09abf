"""Edge cases of the pure-logic modules, kept where mutation testing (scripts/mutation.sh) showed that
a changed operator, bound or message went unnoticed by the module's own tests. Each test names what
it pins down; the messages are checked word for word because users read them."""

from __future__ import annotations

import math

import pytest

from writing.access.ratelimit import RateLimiter
from writing.compose.language import is_chinese
from writing.compose.wordcount import length_score
from writing.engines.messages import clean_text, content_text, normalize
from writing.engines.params import make_params
from writing.errors import BusyError, EmptyPromptError, ParamError, StudioError

# ---------------------------------------------------------------- wordcount.length_score


def test_length_score_at_the_smallest_targets():
    assert length_score(1, 1) == 100.0  # a target of one word is valid
    assert length_score(2, 1) == 50.0  # one word is a real (short) answer, not "nothing"
    assert length_score(1, 0) == 0.0
    assert length_score(1, 4) == 0.0 and length_score(1, 3) == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="must be positive, got 0"):
        length_score(0, 5)


# ---------------------------------------------------------------- ratelimit.RateLimiter


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_accepts_the_smallest_settings_and_refuses_nonsense():
    RateLimiter(limit=1, window_s=0.5).check("a")  # one request per half a second is a valid setting
    for limit, window in ((0, 10.0), (1, 0.0), (1, -1.0), (0, 0.0)):
        with pytest.raises(ValueError, match=r"^rate limit needs limit >= 1 and window_s > 0$"):
            RateLimiter(limit=limit, window_s=window)


def test_rate_limiter_window_edges_and_the_wait_it_announces():
    clock = Clock(100.0)
    limiter = RateLimiter(limit=2, window_s=10, clock=clock)
    limiter.check("u")
    clock.now = 102.0
    limiter.check("u")
    clock.now = 104.0
    with pytest.raises(BusyError) as refused:
        limiter.check("u")
    # the oldest request (t=100) frees a place at t=110: 6 s from now
    assert str(refused.value) == "Too many requests: at most 2 every 10 s. Try again in 6 s."
    clock.now = 110.0  # exactly one window after the first request: its place is free again
    limiter.check("u")
    clock.now = 111.0
    with pytest.raises(BusyError, match="Try again in 1 s"):  # t=102 and t=110 are still in the window
        limiter.check("u")


def test_rate_limiter_forgets_idle_users_beyond_ten_thousand():
    clock = Clock(0.0)
    limiter = RateLimiter(limit=1, window_s=10, clock=clock)
    for index in range(9_999):
        limiter.check(f"idle-{index}")
    clock.now = 20.0  # all of them idle now
    limiter.check("new-1")
    assert len(limiter._recent) == 10_000  # at the bound: nothing forgotten yet
    limiter.check("new-2")
    assert sorted(limiter._recent) == ["new-1", "new-2"]  # over it: the idle ones went, the active stay
    clock.now = 29.0
    with pytest.raises(BusyError):  # forgetting idle users did not reset anyone still in their window
        limiter.check("new-2")


def test_rate_limiter_forgets_users_whose_last_request_left_the_window():
    clock = Clock(0.0)
    limiter = RateLimiter(limit=3, window_s=10, clock=clock)
    limiter.check("old")
    clock.now = 5.0
    limiter.check("old")  # old's last request at t=5: still active at t=14, idle at t=15
    limiter._recent["empty"] = type(limiter._recent["old"])()  # a user whose requests all expired
    limiter._forget_idle(14.0)
    assert sorted(limiter._recent) == ["old"]
    limiter._forget_idle(15.0)
    assert limiter._recent == {}


# ---------------------------------------------------------------- params.make_params messages


@pytest.mark.parametrize(("values", "message"), [
    ({"bogus": 1}, "bogus: unknown setting (allowed: temperature, top_p, top_k, min_p, repetition_penalty, "
                   "presence_penalty, max_new_tokens, seed)"),
    ({"temperature": 2.5}, "temperature: must be <= 2.0, got 2.5"),
    ({"top_p": 0.0}, "top_p: must be > 0.0, got 0.0"),
    ({"temperature": math.nan}, "temperature: must be a finite number, got nan"),
    ({"temperature": [1]}, "temperature: expected a number, got [1]"),
    ({"top_k": "many"}, "top_k: expected a number, got 'many'"),
    ({"top_k": 2.5}, "top_k: Input should be a valid integer, got a number with a fractional part"),
    ({"seed": True}, "seed: expected a number, got True"),
])
def test_param_errors_word_for_word(values, message):
    with pytest.raises(ParamError) as info:
        make_params(values)
    assert str(info.value) == message


# ---------------------------------------------------------------- messages


def test_content_text_of_every_shape():
    assert content_text(None) == ""
    assert content_text({"type": "image", "url": "x.png"}) == ""  # files, images: no text for the model
    assert content_text(42) == "42"
    assert content_text([{"text": "a"}, "b", {"path": "f"}]) == "ab"


def test_clean_text_keeps_a_lone_carriage_return_and_folds_crlf():
    assert clean_text("a\rb\r\nc") == "a\rb\nc"


def test_normalize_messages_word_for_word():
    with pytest.raises(StudioError) as info:
        normalize(["not a mapping"])
    assert str(info.value) == "message 0 must be a mapping with role and content"
    with pytest.raises(StudioError) as info:
        normalize([{"role": "user", "content": "x"}, {"role": "tool", "content": "x"}])
    assert str(info.value) == "message 1: role must be one of system, user, assistant, got 'tool'"
    with pytest.raises(EmptyPromptError) as info:
        normalize([{"role": "user", "content": " "}])
    assert str(info.value) == "The prompt is empty: write something for the model to answer."


# ---------------------------------------------------------------- language.is_chinese


def test_is_chinese_at_its_boundaries():
    assert is_chinese("一二三四五あ")  # one kana per five Han characters: still Chinese
    assert not is_chinese("一二三四あ")  # more kana than that: Japanese
    assert is_chinese("你好 hello world")  # as many Han characters as Latin words: Chinese
    assert not is_chinese("你 hello world")
    assert not is_chinese("plain English")
