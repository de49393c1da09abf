"""README claim: quantising while loading (writing/runtime/qload.py) peaks well below loading the bf16
model and quantising it after.

Measured in a fresh process per mode, on a random checkpoint big enough (~0.9 GB of bf16 weights) that
the weights, not torch's own few hundred MB, decide the peak: the rise of peak RSS (VmHWM) over the RSS
just before loading. The control is what a user would write: load bf16, then quantise. It must show at
least the whole checkpoint, so the measurement can see the difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
import torch, transformers  # imported before the baseline: only load() counts
from writing.runtime.cpu import current_rss_bytes, peak_rss_bytes
from writing.runtime.load import load
from writing.runtime.quant import quantize_model
before = current_rss_bytes()
if sys.argv[2] == "then":  # load bf16, quantise after
    report = quantize_model(load(sys.argv[1], dtype="bfloat16", quantize="none").model, "int8")
else:
    report = load(sys.argv[1], dtype="bfloat16", quantize=sys.argv[2]).quant
print("RESULT " + json.dumps({"rise": peak_rss_bytes() - before, "weights": report.bytes_after,
                              "held": current_rss_bytes() - before}))
"""


@pytest.fixture(scope="module")
def mid_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from writing.tiny import build

    return build(tmp_path_factory.mktemp("mid") / "model", hidden_size=2048, num_layers=12)


@cache  # one fresh process per (checkpoint, mode), shared by the tests below
def when_loading(model: Path, mode: str) -> dict[str, int]:
    """Bytes: "rise" of the peak RSS over the RSS before loading, "held" RSS after it, "weights" of the model."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.slow
def test_int8_loading_peaks_well_below_load_then_quantise(mid_model: Path) -> None:
    weights = sum(f.stat().st_size for f in mid_model.glob("*.safetensors"))
    assert weights > 800e6
    then_rise = when_loading(mid_model, "then")["rise"]
    int8 = when_loading(mid_model, "int8")
    assert then_rise > weights, (then_rise, weights)  # the control holds every bf16 weight, and more
    # Measured on a Sapphire-Rapids-class Xeon (2026-12-02): the control rises 2.05x the bf16 bytes, int8 0.35x
    # of the control (0.53x before rows were read a slice at a time and the heap trimmed after each layer).
    assert int8["rise"] < 0.5 * then_rise, (int8, then_rise, weights)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantised_loading_costs_little_more_than_the_weights_it_keeps(mid_model: Path, tiny128: Path,
                                                                        mode: str) -> None:
    """Issue #15's target, int8 load peak <= 1.3x the weight bytes, per weight byte.

    The 4B shape's 4 GB cannot be loaded in the suite, and a 0.45 GB model's ratio is dominated by
    the load's fixed cost (~120 MB: tokenizer, kernel library, model classes, thread pools), so the
    fixed cost is measured on the tiny model and taken off: what is left is what each weight byte
    costs, which is what the 4B ratio is made of. Measured on a Sapphire-Rapids-class Xeon
    (2026-12-02), peak / held after loading, per weight byte: int8 1.16x / 1.02x, int4 1.19x / 1.03x;
    before rows were read a slice at a time and the heap trimmed after each layer: int8 1.91x / 1.84x,
    int4 1.81x / 1.75x. On the 4B shape that is 1.12x (int8) and 1.18x (int4) of the whole peak.
    """
    fixed = when_loading(tiny128, mode)
    mid = when_loading(mid_model, mode)
    assert mid["weights"] > 250e6 > 1e6 > fixed["weights"]
    weights = mid["weights"] - fixed["weights"]
    assert mid["rise"] - fixed["rise"] < 1.3 * weights, (mid, fixed)
    assert mid["held"] - fixed["held"] < 1.1 * weights, (mid, fixed)  # the heap keeps no holes once loaded
