"""Convert the tiny Qwen3 checkpoint (writing/tiny.py) into a GGUF file llama.cpp can serve.

    python -m tests.support.gguf_tiny CHECKPOINT_DIR OUT.gguf

Why not llama.cpp's convert_hf_to_gguf.py: it recognises a tokenizer's pre-tokenizer by hashing
the token ids of a fixed test string, and the tiny tokenizer (trained here on a few lines) has no
known hash, so the converter refuses it. The mapping is small for Qwen3, so we write it with the
`gguf` package directly:

- arch `qwen3`; no q/k permutation (llama.cpp runs Qwen with NEOX rope, as transformers does).
- tokenizer `gpt2` (byte-level BPE) with pre-tokenizer `qwen2` (the same split regex as
  writing/tiny.py), tokens/merges from tokenizer.json, added special tokens typed CONTROL,
  padding rows up to the embedding size typed UNUSED, eos `<|im_end|>`, no BOS, chat template.
- every tensor f32 by default: the tiny model is small, and float kernels avoid the quantized AMX
  path that gcc-12 builds of llama.cpp miscompile (see shared/DESIGN.md). `dtype="bf16"` writes the
  matrices as BF16 (norm gains stay f32, as convert_hf_to_gguf.py does): the bench's peer run
  (bench/peer.py) converts the 4B-shape checkpoint that way and quantises it with llama.cpp.
- tensors are streamed from every *.safetensors shard one at a time (an 8 GB checkpoint never sits
  in RAM), so sharded checkpoints work too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def convert(checkpoint: str | Path, out_path: str | Path, *, dtype: str = "f32") -> Path:
    import gguf
    import torch

    from writing.runtime.qload import read_index, read_tensor

    if dtype not in ("f32", "bf16"):
        raise ValueError(f"dtype must be f32 or bf16, got {dtype!r}")
    src, out = Path(checkpoint), Path(out_path)
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "qwen3":
        raise ValueError(f"expected a qwen3 checkpoint, got model_type={config.get('model_type')!r}")
    n_layers = int(config["num_hidden_layers"])
    head_dim = int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
    rope = config.get("rope_parameters") or {}
    rope_theta = float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))

    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN3])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name("tiny-qwen3")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_BF16)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config["num_key_value_heads"]))
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_freq_base(rope_theta)
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))

    _add_tokenizer(writer, src, vocab_size=int(config["vocab_size"]))

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN3, n_layers)
    entries = read_index(src)
    plan = []  # (gguf name, entry, written as bf16)
    for hf_name, entry in sorted(entries.items()):
        if hf_name == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue  # tied: llama.cpp reuses token_embd when `output` is absent
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ValueError(f"no GGUF name for tensor {hf_name}")
        as_bf16 = dtype == "bf16" and len(entry.shape) > 1
        plan.append((name, entry, as_bf16))
        count = int(np.prod(entry.shape))
        if as_bf16:
            writer.add_tensor_info(name, entry.shape, np.dtype(np.uint16), count * 2,
                                   raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            writer.add_tensor_info(name, entry.shape, np.dtype(np.float32), count * 4)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _name, entry, as_bf16 in plan:  # one tensor in memory at a time
        tensor = read_tensor(entry)
        if as_bf16:
            writer.write_tensor_data(tensor.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
        else:
            writer.write_tensor_data(tensor.float().numpy())
    writer.close()
    return out


def _add_tokenizer(writer, src: Path, *, vocab_size: int) -> None:
    import gguf

    spec = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    tok_config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = dict(spec["model"]["vocab"])
    special = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    for content, index in special.items():
        vocab.setdefault(content, index)
    if max(vocab.values()) >= vocab_size:
        raise ValueError(f"tokenizer has id {max(vocab.values())} but the embedding has {vocab_size} rows")

    by_id = {index: token for token, index in vocab.items()}
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):  # one entry per embedding row, like convert_hf_to_gguf.py
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif token in special:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)

    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(special["<|im_end|>"])
    writer.add_pad_token_id(special["<|endoftext|>"])
    writer.add_bos_token_id(special["<|endoftext|>"])  # llama.cpp wants one; never added (below)
    writer.add_add_bos_token(False)
    template_file = src / "chat_template.jinja"
    template = tok_config.get("chat_template") or (
        template_file.read_text(encoding="utf-8") if template_file.exists() else None
    )
    if template:
        writer.add_chat_template(template)


def clean_text_bias(checkpoint: str | Path) -> dict[str, float]:
    """logit_bias that bans the special tokens and every token that is not whole UTF-8 text on its own.

    A random model samples byte tokens freely, and llama-cpp-python holds back streamed text that
    ends in an incomplete UTF-8 character, so garbage can arrive all at once at the end instead of
    token by token. Real models write valid text; with this bias the random one does too, and it
    never ends early on <|im_end|>, so a request runs to max_tokens.
    """
    spec = json.loads((Path(checkpoint) / "tokenizer.json").read_text(encoding="utf-8"))
    to_byte = _byte_decoder()
    banned: dict[str, float] = {}
    for token, index in spec["model"]["vocab"].items():
        try:
            bytes(to_byte[ch] for ch in token).decode("utf-8")
        except (KeyError, UnicodeDecodeError):  # KeyError: a special token, not byte-level text
            banned[str(index)] = -100.0
    for added in spec.get("added_tokens", []):
        banned[str(added["id"])] = -100.0
    return banned


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: the printable stand-in character -> the byte it encodes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.gguf_tiny", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="folder written by `python -m writing.tiny`")
    parser.add_argument("out", help="GGUF file to write")
    args = parser.parse_args(argv)
    print(convert(args.checkpoint, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
