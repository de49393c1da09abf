"""writing/runtime/kvcache.py: the in-place key/value cache holds exactly what transformers' DynamicCache holds,
step by step, across its growth, crops (the engine's prefix reuse), resets and replaced tensors; and the tiny
Qwen3 generates the same tokens with it."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from writing.runtime import kvcache
from writing.runtime.kvcache import ReservedCache, ReservedLayer


def states(tokens: int, *, seed: int, heads: int = 2, dim: int = 8, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, heads, tokens, dim, generator=g).to(dtype),
            torch.randn(1, heads, tokens, dim, generator=g).to(dtype))


def same(reserved: ReservedLayer, dynamic: DynamicLayer) -> None:
    assert reserved.get_seq_length() == dynamic.get_seq_length()
    assert torch.equal(reserved.keys, dynamic.keys) and torch.equal(reserved.values, dynamic.values)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_appends_in_place_and_grows_only_when_the_room_runs_out(monkeypatch, dtype):
    monkeypatch.setattr(kvcache, "RESERVE", 8)
    reserved, dynamic = ReservedLayer(), DynamicLayer()
    k, v = states(5, seed=0, dtype=dtype)  # a prompt of 5 tokens: room for 8
    reserved.update(k, v), dynamic.update(k, v)
    same(reserved, dynamic)
    buffer = reserved.keys.data_ptr()
    grown = 0
    for step in range(20):  # one token a step, as decoding does
        k, v = states(1, seed=step + 1, dtype=dtype)
        keys, values = reserved.update(k, v)
        dynamic.update(k, v)
        same(reserved, dynamic)
        assert keys is reserved.keys and values is reserved.values  # attention gets the views
        if reserved.keys.data_ptr() != buffer:
            grown, buffer = grown + 1, reserved.keys.data_ptr()
    assert reserved.get_seq_length() == 25
    assert grown == 3  # room for 8 tokens, then 16, 24, 32: new buffers at the 9th, 17th and 25th token only


def test_a_crop_then_new_tokens_overwrite_the_cropped_room():
    """The engine's prefix reuse: crop to the common prefix, then the new prompt's tokens follow it."""
    reserved, dynamic = ReservedLayer(), DynamicLayer()
    for layer in (reserved, dynamic):
        layer.update(*states(12, seed=1))
        layer.crop(-5)
    same(reserved, dynamic)
    for seed in (2, 3):
        k, v = states(3, seed=seed)
        reserved.update(k, v), dynamic.update(k, v)
        same(reserved, dynamic)
    assert reserved.get_seq_length() == 13


def test_replaced_tensors_and_a_reset_start_a_new_buffer():
    reserved, dynamic = ReservedLayer(), DynamicLayer()
    for layer in (reserved, dynamic):
        layer.update(*states(4, seed=1))
        layer.batch_repeat_interleave(2)  # beam search's copies: tensors that are not views of the buffer
    k, v = (torch.cat([t, t]) for t in states(1, seed=2))
    reserved.update(k, v), dynamic.update(k, v)
    same(reserved, dynamic)
    assert reserved.keys.shape[0] == 2
    for layer in (reserved, dynamic):
        layer.reset()
        layer.update(*states(3, seed=3))
    same(reserved, dynamic)


def test_a_new_shape_or_dtype_is_never_written_into_the_old_buffer():
    layer = ReservedLayer()
    layer.update(*states(2, seed=1))
    layer.crop(-2)  # empty again, its buffers kept
    k, v = states(2, seed=2, heads=3, dtype=torch.bfloat16)
    layer.update(k, v)  # a new buffer of the new shape and dtype
    assert torch.equal(layer.keys, k) and torch.equal(layer.values, v) and layer.keys.dtype == torch.bfloat16
    with pytest.raises(RuntimeError):  # a mismatch with what is cached is an error, as torch.cat's, not a broadcast
        layer.update(*states(1, seed=3, heads=1, dtype=torch.bfloat16))
    with pytest.raises(RuntimeError):
        layer.update(*states(1, seed=4, heads=6, dtype=torch.bfloat16))
    assert torch.equal(layer.keys, k)  # and the cache is as it was


def test_the_cache_replaces_only_full_attention_layers(tiny_loaded):
    cache = ReservedCache(config=tiny_loaded.model.config)
    assert cache.layers and all(type(layer) is ReservedLayer for layer in cache.layers)
    assert ReservedCache().layer_class_to_replicate is ReservedLayer  # no config: layers are made on first use


def test_the_tiny_qwen3_generates_the_same_tokens_with_either_cache(tiny_loaded, monkeypatch):
    monkeypatch.setattr(kvcache, "RESERVE", 16)  # the prompt and the new tokens cross several growths
    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    ids = tokenizer("Lighthouses and their keepers, 灯塔与守塔人", return_tensors="pt").input_ids
    outputs = []
    for make in (DynamicCache, ReservedCache):
        with torch.inference_mode():
            out = model.generate(ids, cache=make(config=model.config), max_new_tokens=40, do_sample=False,
                                 min_new_tokens=40, return_dict_in_generate=True, output_logits=True)
        outputs.append(out)
    assert torch.equal(outputs[0].sequences, outputs[1].sequences)
    for a, b in zip(outputs[0].logits, outputs[1].logits, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same numbers, not just the same argmax
