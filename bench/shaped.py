"""Build (once, cached) a random-weight checkpoint with the exact Qwen3-4B-Instruct-2507 shape.

    python -m bench.shaped [--quick] [--out DIR]

Speed does not depend on weight values, so random bf16 weights of the real shape measure what a
user's machine will do with the real model. Weights are written shard by shard (one shard in RAM
at a time) as safetensors, with the tiny ChatML tokenizer of writing/tiny.py: prompt token ids
are small, generated ids span the model's full 151936 vocab (unknown ids decode to nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Every field of Qwen/Qwen3-4B-Instruct-2507's config.json, set explicitly: Qwen3Config()
# defaults are a different model.
QWEN3_4B: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "pad_token_id": 151643,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2560,
    "initializer_range": 0.02,
    "intermediate_size": 9728,
    "max_position_embeddings": 262144,
    "max_window_layers": 36,
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 5_000_000.0},
    "sliding_window": None,
    "use_sliding_window": False,
    "tie_word_embeddings": True,
    "use_cache": True,
    "vocab_size": 151936,
    "dtype": "bfloat16",
}

# A small shape with the same structure for `--quick` (CI): GQA 4:1, tied, real vocab kept small.
QUICK: dict[str, Any] = {
    **QWEN3_4B,
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_window_layers": 4,
    "vocab_size": 32768,
    # the tiny tokenizer's <|endoftext|> and <|im_end|>: the real ids are outside this vocab
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 0,
}

SHAPES = {"qwen3-4b": QWEN3_4B, "quick": QUICK}
_SHARD_BYTES = 2 * 2**30  # ~2 GiB shards, like the real checkpoint's


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "writing-studio" / "bench"


def build(shape: str = "qwen3-4b", *, out: Path | None = None, seed: int = 0) -> Path:
    """Return a folder holding the shaped checkpoint, building it first if it is missing."""
    fields = SHAPES[shape]
    out = out or cache_root() / f"{shape}-shape"
    done = out / "BUILT"
    if done.is_file() and json.loads(done.read_text()) == fields:
        return out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    import torch
    from safetensors.torch import save_file
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from writing.tiny import SPECIAL_TOKENS, build_tokenizer

    tokenizer = build_tokenizer(out)
    im_end, eot = tokenizer.convert_tokens_to_ids([SPECIAL_TOKENS[2], SPECIAL_TOKENS[0]])
    config = Qwen3Config(**{k: v for k, v in fields.items() if k not in ("architectures", "model_type")})
    config.architectures = list(fields["architectures"])
    with torch.device("meta"):  # names and shapes only: no memory
        shapes = {name: tuple(t.shape) for name, t in Qwen3ForCausalLM(config).state_dict().items()
                  if name != "lm_head.weight"}  # tied to the embedding, not stored (as in the real files)

    gen = torch.Generator().manual_seed(seed)
    shards: list[dict[str, Any]] = [{}]
    size = 0
    weight_map: dict[str, str] = {}
    total = 0

    def flush() -> None:
        nonlocal size
        name = f"model-{len(set(weight_map.values())) + 1:05d}.safetensors"
        save_file(shards[-1], str(out / name), metadata={"format": "pt"})
        weight_map.update({key: name for key in shards[-1]})
        shards[-1] = {}
        size = 0

    for name, dims in shapes.items():
        if len(dims) == 1:  # RMSNorm gains: ones, as trained models roughly are
            tensor = torch.ones(dims, dtype=torch.bfloat16)
        else:  # std 0.02 keeps activations finite through 36 layers
            tensor = torch.empty(dims, dtype=torch.bfloat16).normal_(0.0, 0.02, generator=gen)
        shards[-1][name] = tensor
        nbytes = tensor.numel() * tensor.element_size()
        size += nbytes
        total += nbytes
        if size >= _SHARD_BYTES:
            flush()
    if shards[-1]:
        flush()
    count = len(set(weight_map.values()))
    renamed: dict[str, str] = {}
    for index in range(1, count + 1):  # real checkpoints name shards "-of-N"
        old = f"model-{index:05d}.safetensors"
        new = f"model-{index:05d}-of-{count:05d}.safetensors"
        (out / old).rename(out / new)
        renamed[old] = new
    weight_map = {key: renamed[value] for key, value in weight_map.items()}
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    config.save_pretrained(out)
    GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot, do_sample=False
                     ).save_pretrained(out)
    done.write_text(json.dumps(fields))
    print(f"[bench] built {shape} shape ({total / 1e9:.2f} GB) in {out} in {time.perf_counter() - started:.0f}s",
          flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shaped", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small CI shape")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    print(build("quick" if args.quick else "qwen3-4b", out=args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
