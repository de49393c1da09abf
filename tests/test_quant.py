"""Weight-only int8/int4: quantiser round trips, fused kernel vs reference, model numerics, mode selection."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from writing.engines.base import GenerationStats
from writing.engines.local import LocalEngine
from writing.engines.params import make_params
from writing.runtime import kernels, quant

FUSED = kernels.load()
# Every fused path this CPU runs (capped by STUDIO_KERNEL_PATH), then torch's stock fallback, always.
# Paths the CPU cannot run are listed in the terminal summary (tests/conftest.py), not skipped.
PATHS = [*(kernels.runnable_paths() if FUSED else []), kernels.STOCK]
FUSED_PATHS = PATHS[:-1]
# (N, K): ragged N (not a multiple of the 4-row step or the 64-row tile), K a multiple of 128 but
# not of 512, one K the fused kernels do not take (the layer falls back to torch's kernels), and one
# K past 32768, where the AVX2 int4 GEMV takes a row's group scales in two chunks (qmm_avx2.inc).
SHAPES = [(192, 384), (67, 1280), (5, 128), (130, 2688), (3, 33024)]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def on_path(path: str):
    """Run a block on `path`: a fused path via the kernels' switch; "stock" needs nothing switched."""
    return contextlib.nullcontext() if path == kernels.STOCK else kernels.use_path(path)


@pytest.fixture(scope="module")
def weight() -> torch.Tensor:
    return (torch.randn(192, 384, generator=torch.Generator().manual_seed(0)) * 0.02).to(torch.bfloat16)


def random_weight(n: int, k: int) -> torch.Tensor:
    return (torch.randn(n, k, generator=torch.Generator().manual_seed(n * k)) * 0.02).to(torch.bfloat16)


def test_int8_round_trip_is_within_half_a_step(weight):
    q, s = quant.quantize_int8(weight)
    assert q.dtype == torch.int8 and s.shape == (192,)
    back = q.float() * s[:, None]
    assert (back - weight.float()).abs().max() <= s.max() / 2 + 1e-6
    assert rel(back, weight) < 0.01


def test_int4_round_trip_and_packing(weight):
    packed, d, m = quant.quantize_int4(weight)
    assert packed.shape == (192, 192) and packed.dtype == torch.uint8 and d.shape == (192, 12)
    back = quant.dequantize_int4(packed, d, m)
    assert (back - weight.float()).abs().max() <= d.float().max() * 0.51 + 1e-4
    assert rel(back, weight) < 0.1
    with pytest.raises(ValueError, match="divisible by 128"):
        quant.quantize_int4(weight[:, :100])


def test_int4_strips_hold_8_rows_as_the_kernels_read_them():
    """qmm.h's layout, byte for byte: strip s, group g, byte 32 j + 4 r + t holds row 8 s + r's weights
    32 g + 4 j + t (low nibble) and 32 g + 16 + 4 j + t (high). Rows past N are zero, in strips of 8."""
    q = torch.randint(0, 16, (16, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    packed = quant.pack_int4(q)
    assert packed.shape == (16, 128) and torch.equal(quant.unpack_int4(packed), q)
    strips = packed.reshape(2, 4 * 256)
    for s, g, j, r, t in ((0, 0, 0, 0, 0), (1, 5, 2, 3, 1), (1, 7, 3, 7, 3), (0, 3, 1, 6, 2)):
        row, col = 8 * s + r, 32 * g + 4 * j + t
        assert strips[s, 128 * g + 32 * j + 4 * r + t] == q[row, col] | (q[row, col + 16] << 4)
    values = torch.arange(16 * 8, dtype=torch.float16).reshape(16, 8)  # [rows, groups]
    assert quant.to_strips(values)[8, 3] == values[8 + 3, 0]  # strip 1: (g = 0, r = 3)
    assert torch.equal(quant.from_strips(quant.to_strips(values)), values)
    w = random_weight(5, 128)
    packed, d, m = quant.quantize_int4(w)
    assert packed.shape == (8, 64) and d.shape == m.shape == (8, 4)
    back = quant.dequantize_int4(packed, d, m)
    assert rel(back[:5], w) < 0.1 and torch.count_nonzero(back[5:]) == 0


# rows: decode (1), short prompts through the fused kernel (3, 8), a prompt through the dequantise +
# GEMM route (40: bf16 GEMM on the avx512 path, fp32 on the others).
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_int8_layer_matches_reference(path, shape):
    n, k = shape
    w = random_weight(n, k)
    q, s = quant.quantize_int8(w)
    layer = quant.Int8Linear(q, s, None, fused=path != kernels.STOCK)
    assert layer.fused == (path != kernels.STOCK)
    for rows in (1, 3, 8, 40):
        x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
        exact = F.linear(x.float(), q.float() * s[:, None])  # same weights, no activation quantisation
        with on_path(path):
            out = layer(x)
        assert out.dtype == torch.bfloat16 and out.shape == (rows, n)
        assert rel(out, exact) < 0.02, (path, rows)  # int8 blocks of 32 on the activations, bf16 output


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_int4_layer_matches_reference(path, shape):
    n, k = shape
    w = random_weight(n, k)
    layer = quant.quantize_linear(w, None, mode="int4", fused=path != kernels.STOCK)
    if path == kernels.STOCK and n % 16:  # torch's int4 packing needs N % 16 == 0: such a layer stays int8
        assert isinstance(layer, quant.Int8Linear)
        dense = layer.q.float() * layer.scales[:, None]
    else:
        assert isinstance(layer, quant.Int4Linear)
        dense = quant.dequantize_int4(*quant.quantize_int4(w))[:n]
    for rows in (1, 5, 40):
        x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
        with on_path(path):
            out = layer(x)
        assert out.shape == (rows, n)
        assert rel(out, F.linear(x.float(), dense)) < 0.03, (path, rows)


def test_layers_whose_k_the_kernels_cannot_take_use_torchs_kernels():
    q, s = quant.quantize_int8(random_weight(40, 200))
    layer = quant.Int8Linear(q, s, None, fused=True)
    assert not layer.fused
    x = torch.randn(2, 200).to(torch.bfloat16)
    assert rel(layer(x), F.linear(x.float(), q.float() * s[:, None])) < 0.01


@pytest.mark.parametrize("path", PATHS)
def test_kernel_ops_match_reference_on_every_path(path, weight):
    """The raw ops per path; on "stock" the torch ops the fallback layers call."""
    q, s = quant.quantize_int8(weight)
    packed, d, m = quant.quantize_int4(weight)
    dense4 = quant.dequantize_int4(packed, d, m)
    x = torch.randn(3, 384, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)
    if path == kernels.STOCK:
        out8 = torch.ops.aten._weight_int8pack_mm(x, q, s.to(x.dtype))
        assert rel(out8, F.linear(x.float(), q.float() * s[:, None])) < 0.01
        assert rel(quant.Int4Linear(weight, None, fused=False)(x), F.linear(x.float(), dense4)) < 0.02
        return
    with kernels.use_path(path):
        assert rel(torch.ops.studio_qmm.q8_mm(x, q, s), F.linear(x.float(), q.float() * s[:, None])) < 0.02
        assert rel(torch.ops.studio_qmm.q4_mm(x, packed, d, m), F.linear(x.float(), dense4)) < 0.03
        out = torch.ops.studio_qmm.bf16_mm(x, weight)
        assert out.dtype == torch.bfloat16 and out.shape == (3, 192)
        assert rel(out, F.linear(x.float(), weight.float())) < 0.005  # fp32 sums; only the output is rounded
        assert rel(torch.ops.studio_qmm.q8_dequant(q, s), q.float() * s[:, None]) < 0.005  # bf16 rounding only
        assert rel(torch.ops.studio_qmm.q4_dequant(packed, d, m), dense4) < 0.005
        fp32 = torch.empty(192, 384)
        torch.ops.studio_qmm.q8_dequant_into(q, s, fp32)
        assert torch.equal(fp32, q.float() * s[:, None])  # fp32: exact
        torch.ops.studio_qmm.q4_dequant_into(packed, d, m, fp32)
        assert rel(fp32, dense4) < 1e-6
        with pytest.raises(RuntimeError, match="out must be contiguous bf16 or fp32"):
            torch.ops.studio_qmm.q8_dequant_into(q, s, torch.empty(10, 10, dtype=torch.bfloat16))


def test_fused_paths_agree_with_each_other(weight):
    """Decode rows: same int8 blocks, same integer dot products; paths differ only in fp32 summation order."""
    q, s = quant.quantize_int8(weight)
    x = torch.randn(1, 384, generator=torch.Generator().manual_seed(9))
    outs = {}
    for path in FUSED_PATHS:
        with kernels.use_path(path):
            outs[path] = torch.ops.studio_qmm.q8_mm(x, q, s)
    for path, out in outs.items():
        assert rel(out, outs[FUSED_PATHS[0]]) < 1e-5, path
    assert len(outs) == len(FUSED_PATHS)  # zero on a CPU without a fused path (summary says so)


def quantised_blocks(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x [rows, k] as the kernels quantise it: blocks [rows, k / block, block] (fp32), their int8 values
    (int64) and scales max|x| / 127 (fp32, round half to even, an all-zero block scaled by 0)."""
    rows, k = x.shape
    blocks = x.float().reshape(rows, k // block, block)
    d = blocks.abs().amax(dim=2) / 127
    inv = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    return blocks, torch.round(blocks * inv[..., None]).clamp(-127, 127).to(torch.int64), d


def gemm_reference(x: torch.Tensor, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """What the int8 GEMM computes, in float64: x quantised in blocks of 128, exact integer dot products
    per block, scaled."""
    k = x.shape[1]
    _, xq, d = quantised_blocks(x, 128)
    dots = torch.einsum("mbk,nbk->mnb", xq, q.to(torch.int64).reshape(q.shape[0], k // 128, 128))
    return (dots.double() * d.double()[:, None, :]).sum(dim=2) * s.double()


GEMM_PATHS = [path for path in FUSED_PATHS if path.startswith("avx2")]


@pytest.mark.parametrize("path", GEMM_PATHS or ["(none)"])
def test_int8_gemm_of_prompt_rows_is_exact_up_to_fp32_sums(path, monkeypatch):
    """The AVX2 paths' int8 GEMM: every row count up to two tiles (3 or 4 rows a tile, leftovers 1-3),
    an odd number of weight rows (the 1-row leftover), K of one block and of many, and more rows than one
    chunk of x (256 KB of x and |x|: 100 rows at K = 1280)."""
    if path == "(none)":
        assert not any(p.startswith("avx2") for p in kernels.runnable_paths())  # the summary names why
        return
    monkeypatch.setenv("STUDIO_QMM_GEMM_MIN_ROWS", "1")  # the GEMM for every row count, even 1
    for n, k in ((67, 1280), (5, 128), (130, 384)):
        q, s = quant.quantize_int8(random_weight(n, k))
        for rows in (1, 2, 3, 4, 5, 7, 8, 9, *((205,) if k == 1280 else ())):
            x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)) * 3
            x[0, :64] = 0.0  # an all-zero half block
            with kernels.use_path(path):
                assert torch.ops.studio_qmm.q8_uses_gemm(rows)
                out = torch.ops.studio_qmm.q8_mm(x, q, s)
            assert rel(out, gemm_reference(x, q, s)) < 1e-5, (path, n, k, rows)


@pytest.mark.parametrize("path", FUSED_PATHS or ["(none)"])
def test_long_prompts_on_a_gemm_path_stay_int8(path):
    """An int8 layer sends a prompt to the kernel's int8 GEMM where the path has one for that many rows
    (avx2_vnni from 2 rows; avx2 for 33-128 rows on Intel and other CPUs, from 33 rows on AMD, whose fp32
    GEMM measured slower), and dequantises for torch's GEMM where it has none (avx512: native bf16; avx2
    above 128 rows off AMD, where fp32 GEMM measured faster). The vendor is CPUID's, as the kernels read it."""
    if path == "(none)":
        assert not FUSED
        return
    q, s = quant.quantize_int8(random_weight(130, 384))
    layer = quant.Int8Linear(q, s, None, fused=True)
    x = torch.randn(64, 384, generator=torch.Generator().manual_seed(64))
    amd = torch.ops.studio_qmm.cpu_vendor() == "amd"
    expected = {"avx512": [0, 0], "avx2_vnni": [2, 0], "avx2": [33, 0 if amd else 128]}[path]
    with kernels.use_path(path):
        assert torch.ops.studio_qmm.q8_gemm_rows() == expected
        uses = torch.ops.studio_qmm.q8_uses_gemm(64)
        assert uses == path.startswith("avx2") and not torch.ops.studio_qmm.q8_uses_gemm(1)
        assert torch.ops.studio_qmm.q8_uses_gemm(512) == (path == "avx2_vnni" or (path == "avx2" and amd))
        assert torch.ops.studio_qmm.q8_uses_gemm(128) == path.startswith("avx2")
        out = layer(x)
        if uses:
            assert torch.equal(out, torch.ops.studio_qmm.q8_mm(x, q, s))
            assert rel(out, gemm_reference(x, q, s)) < 1e-5
        else:
            assert rel(out, F.linear(x, q.float() * s[:, None])) < 0.01


def q4_reference(x: torch.Tensor, packed: torch.Tensor, d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """What the int4 kernels compute, in float64: x quantised in blocks of 32, exact integer dot products
    with q per group, scaled by d * dx, plus m * sum(x)."""
    k = x.shape[1]
    blocks, xq, dx = quantised_blocks(x, 32)
    q = quant.unpack_int4(packed).reshape(packed.shape[0], k // 32, 32).to(torch.int64)
    d, m = quant.from_strips(d), quant.from_strips(m)
    dots = torch.einsum("rgk,ngk->rng", xq, q).double()
    scaled = dots * d.double()[None] * dx.double()[:, None, :]
    return scaled.sum(dim=2) + blocks.double().sum(dim=2) @ m.double().T


@pytest.mark.parametrize("path", GEMM_PATHS or ["(none)"])
def test_int4_gemm_of_prompt_rows_is_exact_up_to_fp32_sums(path, monkeypatch):
    """The AVX2 paths' int4 GEMM (over strips of 8 weight rows): row counts up to two tiles of 4 and the
    leftovers, weight rows padded to strips of 8 (5 in one strip; 67 and 130 with a partly padded last one),
    K of one block and of many, and more rows than one chunk of x (128 rows). It agrees with the GEMV too."""
    if path == "(none)":
        assert not any(p.startswith("avx2") for p in kernels.runnable_paths())  # the summary names why
        return
    for n, k in ((67, 1280), (5, 128), (130, 384)):
        packed, d, m = quant.quantize_int4(random_weight(n, k))
        for rows in (1, 2, 3, 4, 5, 7, 8, 9, *((205,) if k == 1280 else ())):
            x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows)) * 3
            x[0, :64] = 0.0  # two all-zero blocks
            with kernels.use_path(path):
                monkeypatch.setenv("STUDIO_QMM_GEMM_MIN_ROWS", "1")  # the GEMM for every row count, even 1
                assert torch.ops.studio_qmm.q4_gemm_from() == 1
                out = torch.ops.studio_qmm.q4_mm(x, packed, d, m)
                monkeypatch.setenv("STUDIO_QMM_GEMM_MIN_ROWS", str(2**40))  # the GEMV
                gemv = torch.ops.studio_qmm.q4_mm(x, packed, d, m)
            assert rel(out, q4_reference(x, packed, d, m)) < 1e-5, (path, n, k, rows)
            assert rel(out, gemv) < 1e-5, (path, n, k, rows)


@pytest.mark.parametrize("path", FUSED_PATHS or ["(none)"])
def test_int4_prompt_rows_take_the_gemm_where_the_path_has_one(path, monkeypatch):
    """An int4 layer runs the GEMV up to 32 rows; the AVX2 paths run its GEMM from 8 rows with no upper
    limit, the avx512 path dequantises for oneDNN's bf16 GEMM above 32. The results agree either way."""
    if path == "(none)":
        assert not FUSED
        return
    dequantised: list[int] = []
    dense = quant.dense_matmul
    monkeypatch.setattr(quant, "dense_matmul", lambda rows, *a: dequantised.append(rows.shape[0]) or dense(rows, *a))
    w = random_weight(130, 384)
    layer = quant.Int4Linear(w, None, fused=True)
    packed, d, m = quant.quantize_int4(w)
    gemm_from = 8 if path.startswith("avx2") else 0
    counts = (7, 8, 16, 17, 32, 33, 129, 512)
    with kernels.use_path(path):
        assert torch.ops.studio_qmm.q4_gemm_from() == gemm_from
        for rows in counts:
            x = torch.randn(rows, 384, generator=torch.Generator().manual_seed(rows))
            out = layer(x)
            assert rel(out, F.linear(x, quant.dequantize_int4(packed, d, m)[:130])) < 0.03, (path, rows)
            if gemm_from or rows <= quant.Q4_FUSED_MAX_ROWS:
                assert rel(out, q4_reference(x, packed, d, m)[:, :130]) < 1e-5, (path, rows)
    assert dequantised == ([] if gemm_from else [r for r in counts if r > quant.Q4_FUSED_MAX_ROWS])


def test_the_prompt_route_names_cpuid_s_vendor():
    """The kernels read the vendor from CPUID (it picks plain avx2's prompt route); it is the vendor_id
    /proc/cpuinfo names (scripts/emulate_cpu.sh rewrites that line to the emulated CPU's), and the
    start-up line says the route."""
    if not FUSED:
        assert kernels.current_path() == kernels.STOCK
        return
    from writing.runtime.cpu import cpu_vendor

    assert torch.ops.studio_qmm.cpu_vendor() == cpu_vendor()
    for path in FUSED_PATHS:
        with kernels.use_path(path):
            route = kernels.prompt_route()
            assert route in kernels.describe()
            low, high = torch.ops.studio_qmm.q8_gemm_rows()
            if path == "avx512":
                assert route == "prompts: dequantised for torch's GEMM"
            else:
                assert route.startswith(f"int8 prompts of {low}") and f"({cpu_vendor()} CPU)" in route
                assert ("and more" in route) == (high == 0)
                assert route.endswith("int4 from 8 rows on the int4 GEMM")


def test_an_impossible_kernel_path_is_refused(monkeypatch):
    monkeypatch.setenv(kernels.ENV, "avx9000")
    with pytest.raises(kernels.KernelPathError, match="choose one of avx512, avx2_vnni, avx2, stock"):
        kernels.forced_path()
    monkeypatch.setattr(kernels, "cpu_paths", lambda flags=None: {p: "lacks avx2" for p in kernels.PATHS})
    monkeypatch.setenv(kernels.ENV, "avx2")
    with pytest.raises(kernels.KernelPathError, match="cannot run the avx2 path .lacks avx2.; paths it can run: stock"):
        kernels.runnable_paths()
    monkeypatch.setenv(kernels.ENV, "stock")
    assert kernels.runnable_paths() == [] and set(kernels.unavailable_paths()) == set(kernels.PATHS)


def test_a_path_cpuid_refuses_gives_way_to_the_next(monkeypatch):
    """A VM or an emulator may list the host's flags in /proc/cpuinfo while CPUID hides them (qemu-user
    does): that path is dropped and the next one down is used, instead of no fused path at all."""
    from writing.runtime import cpu

    monkeypatch.setattr(kernels, "_refused", {})
    monkeypatch.setattr(cpu, "is_x86_64", lambda: True)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: set().union(*kernels.NEEDS.values()))  # lists everything
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert kernels.runnable_paths() == list(kernels.PATHS) and kernels.native_bf16()
    kernels.refuse_by_cpuid(list(kernels.PATHS), lambda path: "avx512f, avx512_bf16" if path == "avx512" else "")
    assert kernels.runnable_paths() == ["avx2_vnni", "avx2"]
    assert "CPUID says the CPU lacks avx512f, avx512_bf16" in kernels.unavailable_paths()["avx512"]
    assert not kernels.native_bf16()  # prompts take the fp32 route, as on any AVX2 CPU
    assert not kernels.cpu_paths({"avx2", "fma", "f16c"} | kernels.NEEDS["avx512"])["avx512"]  # given flags: as given
    monkeypatch.setenv(kernels.ENV, "avx512")
    with pytest.raises(kernels.KernelPathError, match="cannot run the avx512 path .* CPUID says"):
        kernels.runnable_paths()


def test_cpuid_in_the_library_agrees_with_the_paths_chosen():
    """The C++ side's CPUID check passes every path in use here, and names what a path lacks with the
    flag names NEEDS uses. (A path /proc/cpuinfo lacks may still pass CPUID: a kernel can hide flags
    the CPU has, as scripts/as_avx2.sh does, so no claim is made about those.)"""
    assert FUSED or kernels.why_not()
    for path in FUSED_PATHS:
        assert torch.ops.studio_qmm.cpu_lacks(path) == "", path
    for path in kernels.PATHS if FUSED else []:
        named = {flag for flag in torch.ops.studio_qmm.cpu_lacks(path).split(", ") if flag}
        assert named <= kernels.NEEDS[path], (path, named)


def test_paths_are_chosen_from_the_cpu_flags():
    avx2_laptop = {"avx2", "fma", "f16c"}
    assert [p for p, why in kernels.cpu_paths(avx2_laptop).items() if not why] == ["avx2"]
    alder_lake = avx2_laptop | {"avx_vnni"}
    assert [p for p, why in kernels.cpu_paths(alder_lake).items() if not why] == ["avx2_vnni", "avx2"]
    assert "lacks avx512_bf16" in kernels.cpu_paths(alder_lake | {"avx512f", "avx512bw", "avx512vl", "avx512dq",
                                                                  "avx512_vnni"})["avx512"]
    assert all(why for why in kernels.cpu_paths(set()).values())


def load(path: Path):
    from writing.runtime.load import load as load_model

    return load_model(str(path), dtype="bfloat16")


def last_logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(ids).logits[0].float()


# Random weights are a worst case (no outliers for scales to fit, flat logits); measured on this
# tiny model: int8 ~0.02, int4 ~0.16 relative error. The bench reports the 4B-shape numbers.
@pytest.mark.parametrize(("mode", "bound"), [("int8", 0.05), ("int4", 0.25)])
@pytest.mark.parametrize("path", PATHS)
def test_quantized_logits_stay_close_to_bf16(tiny128, monkeypatch, mode, bound, path):
    fused = path != kernels.STOCK
    monkeypatch.setattr(quant, "kernels_ready", lambda: fused)
    ids = torch.randint(3, 700, (1, 48), generator=torch.Generator().manual_seed(1))
    with on_path(path):
        ref = last_logits(load(tiny128).model, ids)
        model = load(tiny128).model
        report = quant.quantize_model(model, mode)
        assert report.layers == 2 * 7 + 1 and report.backend == ("fused" if fused else "stock")
        assert report.bytes_after < report.bytes_before * (0.75 if mode == "int8" else 0.6)
        kinds = {type(module).__name__ for module in model.modules()}
        assert "Linear" not in kinds and "Int8Embedding" in kinds
        assert ("Int4Linear" in kinds) == (mode == "int4")
        for rows in (48, 12, 1):  # prompt (dequantise + GEMM), a short prompt (fused), decode (fused)
            assert rel(last_logits(model, ids[:, :rows]), ref[:rows]) < bound


@pytest.mark.parametrize("path", PATHS)
def test_int8_with_fp32_activations_as_on_cpus_without_native_bf16(tiny128, monkeypatch, path):
    """What --dtype auto loads on an AVX2 CPU: int8 weights, fp32 activations, fp32 prompt GEMMs."""
    from writing.runtime.load import load as load_model

    monkeypatch.setattr(quant, "kernels_ready", lambda: path != kernels.STOCK)
    ids = torch.randint(3, 700, (1, 40), generator=torch.Generator().manual_seed(4))
    with on_path(path):
        ref = last_logits(load(tiny128).model, ids)
        loaded = load_model(str(tiny128), dtype="float32", quantize="int8")
        assert next(loaded.model.parameters()).dtype == torch.float32  # norms; the weights are int8
        assert loaded.quant.backend == ("stock" if path == kernels.STOCK else "fused")
        for rows in (40, 1):
            assert rel(last_logits(loaded.model, ids[:, :rows]), ref[:rows]) < 0.05


def test_quantized_model_generates_through_the_engine(tiny_loaded, tiny_model_dir):
    """The engine streams what the quantised model itself generates (greedy), through Int8Linear layers."""
    from writing.runtime.load import load as load_model

    loaded = load_model(str(tiny_model_dir), dtype="bfloat16")
    quant.quantize_model(loaded.model, "int8")
    assert sum(isinstance(m, quant.Int8Linear) for m in loaded.model.modules()) >= 7  # every projection
    engine = LocalEngine(loaded.model, loaded.tokenizer, name="tiny-int8", context=2048)
    stats = GenerationStats()
    messages = [{"role": "user", "content": "Hello"}]
    text = "".join(engine.stream(messages, make_params(temperature=0.0, max_new_tokens=8), stats=stats))
    inputs = loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                  return_dict=True)
    direct = loaded.model.generate(**inputs, do_sample=False, max_new_tokens=8)[0, inputs["input_ids"].shape[1]:]
    assert stats.new_tokens == 8
    assert text == loaded.tokenizer.decode(direct, skip_special_tokens=True)


def test_mode_selection(tiny_model_dir):
    from writing.runtime.load import load as load_model

    loaded = load_model(str(tiny_model_dir), dtype="bfloat16")
    with pytest.raises(ValueError, match="int8"):
        quant.quantize_model(loaded.model, "int3")
    report = quant.quantize_model(loaded.model, "none")
    assert report.layers == 0 and report.bytes_after == report.bytes_before
    assert any(type(m).__name__ == "Linear" for m in loaded.model.modules())
    # hidden 64 is not a multiple of 128: int4 keeps those layers int8 rather than failing
    report = quant.quantize_model(loaded.model, "int4")
    kinds = [type(m).__name__ for m in loaded.model.modules()]
    assert "Linear" not in kinds and "Int8Linear" in kinds


def test_choose_mode_states_its_reason():
    assert quant.choose_mode("int4", fused=True).mode == "int4"
    auto = quant.choose_mode("auto", fused=True)
    assert auto.mode == quant.DEFAULT_MODE and auto.reason
    assert quant.choose_mode("auto", fused=False).mode == "none"
    with pytest.raises(ValueError, match="auto"):
        quant.choose_mode("int2", fused=True)


@pytest.mark.parametrize(("flag", "layer"), [("int4", "Int4Linear"), ("int8", "Int8Linear"), ("none", None)])
def test_studio_cli_quantize_reaches_the_loaded_model(tiny128, capsys, flag, layer):
    """--quantize is not only parsed: the engine studio.py builds runs on layers of that kind."""
    import studio

    assert studio.build_parser().parse_args([]).quantize == "auto"
    with pytest.raises(SystemExit):
        studio.build_parser().parse_args(["--quantize", "int3"])
    args = studio.build_parser().parse_args(["--model", str(tiny128), "--quantize", flag, "--dtype", "bfloat16"])
    engine = studio.make_engine(args)
    kinds = {type(m).__name__ for m in engine.model.modules()}
    assert f"[studio] quantize: {flag} (chosen with --quantize)" in capsys.readouterr().out
    if layer is None:
        assert not kinds & {"Int4Linear", "Int8Linear"}
    else:
        assert layer in kinds


@pytest.mark.parametrize("path", PATHS)
def test_unquantised_bf16_decodes_through_the_kernel_with_the_same_weights(tiny128, monkeypatch, path):
    from transformers import AutoModelForCausalLM

    fused = path != kernels.STOCK
    monkeypatch.setattr(quant, "kernels_ready", lambda: fused)
    reference = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.bfloat16)  # torch's kernels only
    model = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.bfloat16)
    embed_ptr = model.get_input_embeddings().weight.data_ptr()
    report = quant.quantize_model(model, "none")
    assert report.mode == "none" and report.bytes_after == report.bytes_before  # nothing copied
    if not fused:  # no kernel: the layers stay torch's, untouched
        assert report.backend == "none" and report.layers == 0
        assert type(model.get_output_embeddings()).__name__ == "Linear"
        return
    assert report.backend == "fused" and report.layers == 2 * 7 + 1
    head = model.get_output_embeddings()
    assert type(head).__name__ == "Bf16Linear" and head.weight.data_ptr() == embed_ptr  # still tied
    ids = torch.randint(3, 700, (1, 24), generator=torch.Generator().manual_seed(2))
    with kernels.use_path(path):
        if quant.prompt_dtype() == torch.bfloat16:  # native bf16: prompt rows through F.linear as before
            assert torch.equal(last_logits(model, ids), last_logits(reference, ids))
        else:  # fp32 GEMM on the same weights: only the rounding differs
            assert rel(last_logits(model, ids), last_logits(reference, ids)) < 0.01
        assert rel(last_logits(model, ids[:, :1]), last_logits(reference, ids[:, :1])) < 0.01  # decode: the kernel


def test_dequantise_into_a_reused_buffer_a_slice_at_a_time(monkeypatch):
    monkeypatch.setattr(quant, "_scratch", threading.local())  # no buffer yet
    with torch.inference_mode():  # first asked for under inference mode (generate), then written outside it
        quant._dequant_buffer(300, 384, torch.float32)  # large enough for every use below
        quant._dequant_buffer(300, 384, torch.bfloat16)
    buffer = quant._dequant_buffer(192, 384)
    assert quant._dequant_buffer(100, 384).data_ptr() == buffer.data_ptr()  # the same memory, layer after layer
    assert quant._dequant_buffer(10, 10, torch.float32).dtype == torch.float32
    # a matrix above the buffer size is filled and multiplied a slice of rows at a time
    monkeypatch.setattr(quant, "_SCRATCH_BYTES", 64 * 384 * 4)
    w = random_weight(300, 384).float()
    slices = []

    def fill(start, stop, out):
        slices.append((start, stop))
        out.copy_(w[start:stop])

    x = torch.randn(20, 384)
    y = quant.dense_matmul(x, 300, 384, fill)
    assert len(slices) > 1 and slices[-1][1] == 300
    assert rel(y, F.linear(x, w)) < 0.01


def test_arm64_gets_the_stock_path_without_building_anything(monkeypatch):
    """On ARM64 (no machine here runs it) nothing x86-only is built or read: the fallback is the answer."""
    from writing.runtime import cpu

    monkeypatch.setattr(cpu, "machine", lambda: "aarch64")
    monkeypatch.setattr(cpu, "cpu_flags", lambda: set())  # ARM's /proc/cpuinfo has "Features", not "flags"
    monkeypatch.delenv(kernels.ENV, raising=False)
    assert all("not an x86-64 CPU (aarch64)" in why for why in kernels.cpu_paths().values())
    assert kernels.runnable_paths() == [] and cpu.cpu_class() == "aarch64 (no x86 vector kernels)"
    ok, why = kernels._load(verbose=False)  # the uncached loader: must not reach the compiler
    assert not ok and "no fused path for this CPU" in why
    assert not kernels.native_bf16()
    assert quant.choose_mode("auto", fused=False).mode == "none"


@pytest.mark.parametrize(("vendor", "family", "model", "expected"), [
    ("AuthenticAMD", 26, 2, "AMD family 26 model 2 (Zen 5)"),
    ("AuthenticAMD", 25, 1, "AMD family 25 model 1 (Zen 3)"),
    ("AuthenticAMD", 25, 17, "AMD family 25 model 17 (Zen 4)"),
    ("AuthenticAMD", 25, 97, "AMD family 25 model 97 (Zen 4)"),
    ("AuthenticAMD", 23, 49, "AMD family 23 model 49 (Zen 1/Zen 2)"),
    ("GenuineIntel", 6, 143, "Intel family 6 model 143 (Sapphire Rapids)"),
    ("GenuineIntel", 6, 191, "Intel family 6 model 191 (Raptor Lake)"),
    ("GenuineIntel", 6, 1, "Intel family 6 model 1"),
    ("HygonGenuine", 24, 1, "x86 family 24 model 1"),
])
def test_the_bench_names_the_cpu_generation_from_family_and_model(monkeypatch, vendor, family, model, expected):
    """A VM often names its CPU only "AMD EPYC": the bench adds the generation from /proc/cpuinfo."""
    from writing.runtime import cpu

    lines = [f"vendor_id\t: {vendor}", f"cpu family\t: {family}", f"model\t\t: {model}", "model name\t: AMD EPYC"]
    monkeypatch.setattr(cpu, "_proc_lines", lambda name: lines if name == "cpuinfo" else [])
    assert cpu.cpu_generation() == expected
    monkeypatch.setattr(cpu, "_proc_lines", lambda name: ["Features\t: fp asimd", "CPU part\t: 0xd0c"])
    assert cpu.cpu_generation() == ""
