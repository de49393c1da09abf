import pytest

from writing.engines.messages import clean_text, normalize
from writing.errors import EmptyPromptError, StudioError


def test_gradio_content_blocks_are_flattened():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "世界"}]},
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": {"text": "again"}},
    ]
    assert normalize(messages) == [
        {"role": "user", "content": "Hello 世界"},
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": "again"},
    ]


@pytest.mark.parametrize("messages", [[], [{"role": "user", "content": "   \n"}], [{"role": "system", "content": "x"}]])
def test_nothing_to_answer_is_a_clear_error(messages):
    with pytest.raises(EmptyPromptError, match="empty"):
        normalize(messages)


def test_unknown_role_is_refused():
    with pytest.raises(StudioError, match="role"):
        normalize([{"role": "tool", "content": "x"}])


def test_lone_surrogates_and_control_characters_are_cleaned():
    text = "ok\ud800 bell\x07 tab\t nul\x00 line\r\nend"
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # must not raise
    assert "\x07" not in cleaned and "\x00" not in cleaned
    assert "\t" in cleaned and "line\nend" in cleaned
