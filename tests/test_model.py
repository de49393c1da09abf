"""Model resolution, dtype choice and the missing-weights message (through the real CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from writing.errors import ModelUnavailableError
from writing.runtime.load import DEFAULT_MODEL, choose_dtype, load, resolve

ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30


def test_bf16_is_chosen_when_the_cpu_has_native_bf16():
    choice = choose_dtype("auto", weight_bytes_bf16=8 * GIB, flags={"avx2", "avx512_bf16"})
    assert choice.dtype == "bfloat16" and "avx512_bf16" in choice.reason
    assert choose_dtype("auto", weight_bytes_bf16=8 * GIB, flags={"amx_bf16"}).dtype == "bfloat16"
    assert choose_dtype("auto", weight_bytes_bf16=8 * GIB, flags={"avx512_bf16"}, quantize="int8").dtype == "bfloat16"


def test_never_fp32_weights_by_default_without_native_bf16():
    # unquantised: bf16 weights (fp32 would be 16 GiB for the 4B model), whatever the free RAM
    plain = choose_dtype("auto", weight_bytes_bf16=8 * GIB, flags={"avx2", "fma"})
    assert plain.dtype == "bfloat16" and "16.0 GiB" in plain.reason and "AVX2" in plain.reason
    # quantised: fp32 holds only activations; the reason says the weights are not fp32
    for mode in ("int8", "int4"):
        choice = choose_dtype("auto", weight_bytes_bf16=8 * GIB, flags={"avx2", "fma"}, quantize=mode)
        assert choice.dtype == "float32" and f"{mode} weights" in choice.reason
        assert "ever held in fp32" in choice.reason


def test_dtype_flag_overrides_and_bad_values_are_refused():
    assert choose_dtype("float32", weight_bytes_bf16=1, flags={"avx512_bf16"}).dtype == "float32"
    with pytest.raises(ValueError, match="--dtype"):
        choose_dtype("float8", weight_bytes_bf16=1)


def test_load_honours_the_dtype_override(tiny_model_dir):
    import torch

    loaded = load(str(tiny_model_dir), dtype="float32")
    assert loaded.model.dtype == torch.float32 and loaded.dtype == "float32"


def test_a_folder_that_is_not_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="config.json"):
        resolve(str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        resolve(str(tmp_path / "nope"))


def _run_studio(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), **env_extra}
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "studio.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "env_extra",
    [
        {"HF_HUB_OFFLINE": "1"},
        # the hub is "reachable" only at a closed local port: a network failure, not offline mode
        {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2"},
    ],
    ids=["offline", "hub-unreachable"],
)
def test_missing_weights_give_one_clear_message_and_a_nonzero_exit(tmp_path, env_extra):
    result = _run_studio(["--model", DEFAULT_MODEL, "--port", "7999"], env_extra, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert DEFAULT_MODEL in result.stderr
    assert str(tmp_path / "hf" / "hub") in result.stderr  # the cache folder
    assert f"hf download {DEFAULT_MODEL}" in result.stderr  # the command that fetches it


# Every flag the README names (Command line, Security, Scaling out); a flag added or dropped must show up here.
FLAGS = {"--model", "--host", "--port", "--dtype", "--context", "--threads", "--quantize", "--data-dir", "--auth",
         "--auth-file", "--share", "--rate-limit", "--rate-window", "--backend", "--base-url", "--api-key",
         "--remote-model", "--quota-mb", "--allow-remote-images", "--revisions-keep", "--max-section-tokens",
         "--job-save-seconds", "--help"}


def test_help_documents_every_flag(tmp_path):
    import argparse

    import studio

    actions = [a for a in studio.build_parser()._actions if a.option_strings]
    assert {flag for a in actions for flag in a.option_strings if flag.startswith("--")} == FLAGS
    result = _run_studio(["--help"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps lines
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for action in actions:
        flag = max(action.option_strings, key=len)
        assert flag in text, f"{flag} missing from --help"
        assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 15, f"{flag} has no help"
        first_words = " ".join(action.help.replace("%%", "%").split()[:4])
        assert first_words in text, f"{flag}: its help text ({first_words!r}...) is not in --help"
        assert flag in readme, f"{flag} is not in the README"


@pytest.mark.parametrize("seconds", ["0", "0.01", "nan", "7200"])
def test_a_job_save_interval_out_of_range_is_refused_before_loading(tmp_path, seconds):
    """Checked before the model loads: the default model is absent here, so a load would fail differently."""
    result = _run_studio(["--job-save-seconds", seconds, "--port", "7999"], {"HF_HUB_OFFLINE": "1"}, tmp_path)
    assert result.returncode == 2 and "--job-save-seconds must be between 0.05 and 3600" in result.stderr
