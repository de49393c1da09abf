"""Quantise while loading (writing/runtime/qload.py): same model as load-then-quantise, without the bf16 copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from writing.errors import ModelUnavailableError
from writing.runtime import kernels, qload, quant
from writing.runtime.load import load

FUSED = kernels.load()


def copy_with(src: Path, dst: Path, *, edit_tensors=None, edit_config=None) -> Path:
    """A copy of a checkpoint with its tensors and/or config changed."""
    shutil.copytree(src, dst)
    (shard,) = dst.glob("*.safetensors")
    if edit_tensors:
        tensors = load_file(shard)
        edit_tensors(tensors)
        save_file(tensors, shard, metadata={"format": "pt"})
    if edit_config:
        config = json.loads((dst / "config.json").read_text())
        edit_config(config)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(ids).logits.float()


IDS = torch.randint(3, 700, (1, 24), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("backend", ["best", "stock"])
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_streamed_load_equals_load_then_quantise(tiny128, monkeypatch, mode, backend):
    # "best": the fused kernels on the best path this CPU runs (avx512, avx2_vnni or avx2), or, where
    # none runs (ARM64, STUDIO_KERNEL_PATH=stock), the stock fallback that is then what users get
    fused = backend == "best" and FUSED
    monkeypatch.setattr(quant, "kernels_ready", lambda: fused)
    reference = load(str(tiny128), dtype="bfloat16").model
    ref_report = quant.quantize_model(reference, mode)
    model, report = qload.load_quantized(tiny128, mode=mode, dtype=torch.bfloat16)
    assert report.layers == ref_report.layers == 2 * 7 + 1
    assert report.bytes_after == ref_report.bytes_after
    assert report.backend == ("fused" if fused else "stock")
    for rows in (24, 1):  # the prompt path and the decode path
        assert torch.equal(logits(model, IDS[:, :rows]), logits(reference, IDS[:, :rows]))
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    assert model.generation_config.eos_token_id == reference.generation_config.eos_token_id
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert embed.q.data_ptr() == head.q.data_ptr()  # tied: one int8 copy


def test_model_load_quantizes_while_loading(tiny128, capsys):
    loaded = load(str(tiny128), dtype="bfloat16", quantize="int8")
    assert loaded.quant is not None and loaded.quant.mode == "int8"
    assert "full load" not in capsys.readouterr().out  # the streamed path, no fallback
    kinds = {type(m).__name__ for m in loaded.model.modules()}
    assert "Linear" not in kinds and {"Int8Linear", "Int8Embedding"} <= kinds
    plain = load(str(tiny128), dtype="bfloat16")
    assert plain.quant.mode == "none" and plain.quant.bytes_after == plain.quant.bytes_before


def test_untied_head_is_read_from_its_own_tensor(tiny128, tmp_path):
    def untie(tensors):
        tensors["lm_head.weight"] = torch.randn_like(tensors["model.embed_tokens.weight"].float()).bfloat16()

    folder = copy_with(tiny128, tmp_path / "untied", edit_tensors=untie,
                       edit_config=lambda c: c.update(tie_word_embeddings=False))
    reference = load(str(folder), dtype="bfloat16").model
    quant.quantize_model(reference, "int8")
    model, _ = qload.load_quantized(folder, mode="int8", dtype=torch.bfloat16)
    assert type(model.get_input_embeddings()).__name__ == "Embedding"  # untied embedding stays bf16
    assert torch.equal(logits(model, IDS), logits(reference, IDS))


def test_unknown_checkpoint_names_fall_back_to_a_full_load(tiny128, tmp_path, capsys):
    def extra(tensors):
        tensors["model.unexpected_old_name.weight"] = torch.zeros(4, 4, dtype=torch.bfloat16)

    folder = copy_with(tiny128, tmp_path / "renamed", edit_tensors=extra)
    with pytest.raises(qload.NotStreamable, match="unexpected_old_name"):
        qload.load_quantized(folder, mode="int8", dtype=torch.bfloat16)
    loaded = load(str(folder), dtype="bfloat16", quantize="int8")
    assert "quantising after a full load" in capsys.readouterr().out
    assert loaded.quant is not None and loaded.quant.layers == 15
    reference = load(str(tiny128), dtype="bfloat16", quantize="int8").model
    assert torch.equal(logits(loaded.model, IDS), logits(reference, IDS))


def test_truncated_shard_is_a_clear_error(tiny128, tmp_path):
    folder = copy_with(tiny128, tmp_path / "truncated")
    (shard,) = folder.glob("*.safetensors")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(ModelUnavailableError, match="Could not load"):
        load(str(folder), dtype="bfloat16", quantize="int8")


def test_index_reads_every_tensor_with_its_shape(tiny128):
    entries = qload.read_index(tiny128)
    tensors = load_file(next(tiny128.glob("*.safetensors")))
    assert set(entries) == set(tensors)
    for name, tensor in tensors.items():
        assert torch.equal(qload.read_tensor(entries[name]), tensor)


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantised_weights_are_read_a_slice_of_rows_at_a_time(tiny128, monkeypatch, mode):
    """No quantised weight is ever whole in memory (a 4B model's embedding is 778 MB of bf16), and the
    slices (5 rows here, the last one short) give exactly the model the whole tensors give."""
    reference, _ = qload.load_quantized(tiny128, mode=mode, dtype=torch.bfloat16)
    entries = qload.read_index(tiny128)
    monkeypatch.setattr(quant, "CHUNK_WEIGHTS", 5 * 128)
    reads: list[tuple[str, int]] = []
    real_read = qload._read_bytes
    monkeypatch.setattr(qload, "_read_bytes", lambda entry, offset, into: (
        reads.append((entry.file.name, into.numel())), real_read(entry, offset, into))[-1])
    model, _ = qload.load_quantized(tiny128, mode=mode, dtype=torch.bfloat16)
    embed = entries["model.embed_tokens.weight"]
    assert embed.shape[0] % 5 and embed.end - embed.start > 5 * 128 * 2  # several slices, a short last one
    assert max(size for _, size in reads) == 5 * 128 * 2  # whole tensors are only the small kept ones (norms)
    for rows in (24, 1):
        assert torch.equal(logits(model, IDS[:, :rows]), logits(reference, IDS[:, :rows]))
