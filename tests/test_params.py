import math

import pytest

from writing.engines.params import SamplingParams, make_params
from writing.errors import ParamError


def test_defaults_are_the_model_card_values():
    params = make_params()
    assert (params.temperature, params.top_p, params.top_k, params.min_p) == (0.7, 0.8, 20, 0.0)
    assert not params.greedy


def test_temperature_zero_means_greedy():
    assert make_params(temperature=0).greedy


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("temperature", math.nan, "finite"),
        ("temperature", math.inf, "finite"),
        ("temperature", -0.1, ">= 0"),
        ("temperature", 2.5, "<= 2"),
        ("top_p", 0.0, "> 0"),
        ("top_p", 1.5, "<= 1"),
        ("top_k", -1, ">= 0"),
        ("top_k", "many", "expected a number"),
        ("min_p", float("-inf"), "finite"),
        ("repetition_penalty", 0.0, ">= 0.5"),
        ("presence_penalty", 9, "<= 2"),
        ("max_new_tokens", 0, ">= 1"),
        ("max_new_tokens", 10**9, "<= 32768"),
        ("max_new_tokens", True, "expected a number"),
        ("seed", -5, ">= 0"),
        ("seed", "abc", "expected a number"),
    ],
)
def test_bad_values_name_the_field(field, value, fragment):
    with pytest.raises(ParamError) as info:
        make_params({field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")
    assert fragment in str(info.value)


def test_unknown_setting_is_refused_with_the_allowed_list():
    with pytest.raises(ParamError) as info:
        make_params(temprature=0.5)
    assert "temprature" in str(info.value)
    assert "temperature" in str(info.value).split("allowed:")[1]


def test_numeric_strings_from_http_are_accepted_when_they_are_numbers():
    assert make_params(temperature="0.3", max_new_tokens="64") == SamplingParams(temperature=0.3, max_new_tokens=64)


def test_merged_validates_and_ignores_none():
    base = make_params(temperature=0.8)
    assert base.merged(top_k=None, max_new_tokens=32).max_new_tokens == 32
    with pytest.raises(ParamError):
        base.merged(temperature=float("nan"))


def test_params_are_immutable():
    params = make_params()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen models
        params.temperature = 1.0
