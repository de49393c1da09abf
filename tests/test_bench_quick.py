"""The benchmark harness end to end on its small shape, so it never rots (`python -m bench.run --quick`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_bench_measures_every_mode_and_writes_results(tmp_path: Path):
    from bench.shaped import QUICK, build

    model = build("quick", out=tmp_path / "quick-shape")
    config = json.loads((model / "config.json").read_text())
    assert config["hidden_size"] == QUICK["hidden_size"] and config["tie_word_embeddings"] is True
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--model", str(model), "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| mode | kernel path | load s |" in proc.stdout and "TTFT with reuse" in proc.stdout

    [json_file] = out.glob("*.json")
    record = json.loads(json_file.read_text())
    assert record["bandwidth"]["read_gbs"] > 0.1
    results = {r["mode"]: r for r in record["results"]}
    assert list(results) == ["baseline", "bf16", "int8", "int4"]
    for r in results.values():
        assert r["load_s"] > 0 and r["peak_rss"] > 0 and r["weight_bytes"] > 0
        assert r["prefill_tok_s"] > 0 and r["ttft_s"] > 0
        assert r["new_tokens"] == 16 and r["decode_tok_s"] > 0
    from writing.runtime import kernels

    assert record["machine"]["cpu_class"] and "kernel path" in record["machine"]["kernel_path"]
    for mode in ("bf16", "int8", "int4"):  # each engine row names the path it ran on
        assert results[mode]["kernel_path"] in (*kernels.PATHS, kernels.STOCK)
    assert results["int8"]["weight_bytes"] < 0.6 * results["bf16"]["weight_bytes"]
    assert results["int4"]["weight_bytes"] < results["int8"]["weight_bytes"]
    for mode in ("bf16", "int8", "int4"):
        assert 0 < results[mode]["reused_tokens"] < results[mode]["section_prompt_tokens"]
        assert results[mode]["ttft_reuse_s"] > 0 and results[mode]["ttft_no_reuse_s"] > 0
    assert results["int8"]["logits_rel_err"] < 0.1 and results["int4"]["logits_rel_err"] < 0.5
    assert (out / json_file.name.replace(".json", ".md")).is_file()
    assert not list(out.glob(".scratch-*"))  # the bf16 reference logits are cleaned up


@pytest.mark.slow
def test_quick_bench_peer_times_llama_cpp_on_the_same_weights(tmp_path: Path):
    from tests.support.llama_server import require_llama_server

    require_llama_server()
    from bench.shaped import build

    model = build("quick", out=tmp_path / "quick-shape")
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--model", str(model), "--out", str(out),
                           "--modes", "int8", "--peer", "--peer-types", "Q8_0,Q4_0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [json_file] = out.glob("*.json")
    results = {r["mode"]: r for r in json.loads(json_file.read_text())["results"]}
    assert list(results) == ["int8", "llama.cpp Q8_0", "llama.cpp Q4_0"]
    for name in ("llama.cpp Q8_0", "llama.cpp Q4_0"):
        r = results[name]
        assert r["prefill_tok_s"] > 0 and r["decode_tok_s"] > 0 and r["new_tokens"] == 16
        assert "llama.cpp" in r["kernel_path"]
    # Q8_0 is ~8.5 bits a weight, Q4_0 ~4.5: the files the bench timed are the quantised ones
    assert results["llama.cpp Q4_0"]["weight_bytes"] < 0.7 * results["llama.cpp Q8_0"]["weight_bytes"]
    assert "| llama.cpp Q8_0 |" in proc.stdout


def test_table_shows_the_load_peak_and_its_ratio_to_the_weights():
    """The load-memory target (int8 load peak <= 1.3x the weight bytes) is read off the table and the
    progress line: peak RSS at the end of loading over the weights the mode holds; blank for rows that do not
    measure it (llama.cpp peers)."""
    from bench.run import load_peak, table

    int8 = {"mode": "int8", "load_s": 30.0, "load_peak_rss": 5.2e9, "peak_rss": 5.6e9, "weight_bytes": 4.0e9,
            "prefill_tok_s": 10.0, "ttft_s": 51.2, "decode_tok_s": 2.0}
    peer = {**int8, "mode": "llama.cpp Q8_0"}
    del peer["load_peak_rss"]
    text = table([int8, peer], bandwidth=10.0)
    assert "load peak RSS GB (x weights)" in text.splitlines()[0]
    assert "| int8 |  | 30.0 | 5.20 (1.30x) | 5.60 | 4.00 |" in text
    assert "| llama.cpp Q8_0 |  | 30.0 |  | 5.60 | 4.00 |" in text
    assert load_peak(int8) == "5.20 (1.30x)" and load_peak(peer) == ""


def test_layer_bench_times_every_route_on_every_path(tmp_path: Path):
    """`python -m bench.layers` on a small layer: every runnable path, each route's time and error."""
    from writing.runtime import kernels

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "bench.layers", "--shape", "130,384", "--rows", "1,5,40",
                           "--repeats", "1", "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    if not kernels.load():  # no fused path on this machine: the bench says so and stops
        assert proc.returncode == 1 and "no fused kernel path here" in proc.stdout
        return
    assert proc.returncode == 0, proc.stderr[-3000:]
    [json_file] = tmp_path.glob("layers-*.json")
    record = json.loads(json_file.read_text())
    assert record["shape"] == [130, 384] and record["machine"]["cpu_class"]
    rows = record["rows"]
    assert [(r["path"], r["rows"]) for r in rows] == [(p, n) for p in kernels.runnable_paths() for n in (1, 5, 40)]
    for r in rows:
        routes = ("gemm", "gemv", "dequant") if r["path"].startswith("avx2") else ("gemv", "dequant")
        assert set(r) == {"path", "rows", *(f"{x}_ms" for x in routes), *(f"{x}_err" for x in routes)}
        assert all(r[f"{x}_ms"] > 0 and r[f"{x}_err"] < 0.02 for x in routes), r
    assert f"| {rows[0]['path']} | 1 |" in proc.stdout


@pytest.mark.slow
def test_context_bench_times_the_three_setups_at_each_context(tmp_path: Path):
    from bench.shaped import build

    model = build("quick", out=tmp_path / "quick-shape")
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "bench.context", "--model", str(model), "--contexts", "8,300",
                           "--steps", "3", "--quantize", "int8", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| context | DynamicCache, torch attention step ms |" in proc.stdout
    assert "load avg" in proc.stdout and "kernel path" in proc.stdout
    [json_file] = out.glob("context-*.json")
    result = json.loads(json_file.read_text())
    assert [row["context"] for row in result["rows"]] == [8, 300]  # 300: past one reserve of room
    assert all(row["dynamic_ms"] > 0 and row["reserved_ms"] > 0 and row["fused_ms"] > 0 for row in result["rows"])
    assert result["machine"]["cpu_class"] and result["quantize"] == "int8"


@pytest.mark.slow
def test_pages_bench_times_both_page_sizes_for_int4_and_int8(tmp_path: Path):
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("THP_MEM_ALLOC_ENABLE", None)  # the bench starts itself again with torch asking for nothing
    proc = subprocess.run([sys.executable, "-m", "bench.pages", "--copies", "1", "--rounds", "2", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| weights | GB a round | 4 KB pages GB/s | 2 MB pages GB/s |" in proc.stdout
    assert "load avg" in proc.stdout and "kernel path" in proc.stdout and "transparent huge pages:" in proc.stdout
    [json_file] = out.glob("pages-*.json")
    result = json.loads(json_file.read_text())
    assert [row["mode"] for row in result["rows"]] == ["int4", "int8"]
    for row in result["rows"]:
        assert row["gbps_4k"] > 0 and row["gbps_2m"] > 0 and row["ratio_min"] <= row["ratio_median"] <= row["ratio_max"]
        # the 2 MB side is on 2 MB pages wherever the system gives them to programs that ask
        if result["thp_mode"] in ("madvise", "always"):
            assert row["share_on_2m_pages"] > 0.5, row


@pytest.mark.slow
def test_duel_bench_alternates_the_studio_and_llama_cpp_in_one_process(tmp_path: Path):
    from tests.support.llama_server import require_llama_server

    require_llama_server()
    from bench.shaped import build

    model = build("quick", out=tmp_path / "quick-shape")
    out = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "bench.duel", "--model", str(model), "--out", str(out),
                           "--pairs", "int8:Q8_0,int4:Q4_0", "--rounds", "3", "--prompt-tokens", "32",
                           "--new-tokens", "4"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| studio | llama.cpp | prefill tok/s" in proc.stdout and "kernel path" in proc.stdout
    [json_file] = out.glob("duel-*.json")
    results = json.loads(json_file.read_text())["results"]
    assert [(r["studio"], r["llama"]) for r in results] == [("studio int8", "llama.cpp Q8_0"),
                                                             ("studio int4", "llama.cpp Q4_0")]
    for r in results:
        firsts = [row["first"] for row in r["rounds"]]
        assert firsts == [r["studio"], r["llama"], r["studio"]]  # the side that goes first alternates
        for row in r["rounds"]:
            assert row["studio"]["new_tokens"] == 4 and row["llama"]["new_tokens"] == 4
            assert row["decode_ratio"] == row["studio"]["decode_tok_s"] / row["llama"]["decode_tok_s"]
        assert r["decode_ratio_min"] <= r["decode_ratio_median"] <= r["decode_ratio_max"]
        assert r["prefill_ratio_min"] <= r["prefill_ratio_median"] <= r["prefill_ratio_max"]


def test_duel_refuses_a_pair_it_cannot_time():
    proc = subprocess.run([sys.executable, "-m", "bench.duel", "--pairs", "int8:Q5_K"], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--pairs wants mode:type" in proc.stderr
