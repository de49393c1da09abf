"""Build a tiny random Qwen3 checkpoint with a real byte-level BPE ChatML tokenizer.

    python -m writing.tiny DIR

Offline and in seconds. The result loads through the same `from_pretrained` path as
Qwen/Qwen3-4B-Instruct-2507, so tests and demos exercise the real code. Random weights write
gibberish: use it to test behaviour, not prose.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# The ChatML template of Qwen3-2507 instruct (no thinking block), without the tool-calling part.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Same pre-tokenizer split as Qwen2/Qwen3: words, single digits, punctuation runs, newlines.
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CORPUS = """\
# Writing a blog post that people finish
A good article starts with a promise to the reader and keeps it. Write for one audience,
pick one tone, and cut every sentence that does not serve the point. Use headings, short
paragraphs, examples and code snippets where they help:

```python
def word_count(text: str) -> int:
    return len(text.split())
```

## Outline first, then expand
Plan each section with a word target, then write section by section with continuity.
写作的第一步是明确读者。好的文章结构清晰，段落简短，例子具体。
一、引言：为什么本地模型值得一试？二、方法：先写大纲，再逐节扩写。三、总结。
我们在笔记本电脑上运行 Qwen3 模型，用 Transformer 架构生成中文和英文文本。
| Section | Words |
|---|---|
| Introduction | 200 |
The quick brown fox jumps over the lazy dog. 1234567890 !?.,;:()[]{}<>"'
"""


def build_tokenizer(out_dir: Path, *, vocab_size: int = 1024):
    """Train a byte-level BPE on a small built-in corpus and save it as a Qwen2 tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: any text encodes
        show_progress=False,
    )
    tokenizer.train_from_iterator([_CORPUS] * 4, trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=262144,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    _set_tokenizer_class(out_dir / "tokenizer_config.json")
    return fast


def _set_tokenizer_class(config_path: Path) -> None:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config["add_bos_token"] = False
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def build_model(out_dir: Path, *, vocab_size: int, im_end_id: int, eot_id: int, seed: int = 0,
                hidden_size: int = 64, num_layers: int = 2) -> None:
    """Random Qwen3 with the real architecture at toy size, saved as safetensors."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=262144,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0},
        bos_token_id=eot_id,
        eos_token_id=im_end_id,
        pad_token_id=eot_id,
        dtype="bfloat16",
    )
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=eot_id,
        eos_token_id=[im_end_id, eot_id],
        pad_token_id=eot_id,
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
    )
    model.save_pretrained(out_dir)


def build(out_dir: str | Path, *, seed: int = 0, hidden_size: int = 64, num_layers: int = 2) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    ids = tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)
    vocab = (len(tokenizer) + 63) // 64 * 64  # round up like real checkpoints do
    build_model(out, vocab_size=vocab, im_end_id=ids[2], eot_id=ids[0], seed=seed,
                hidden_size=hidden_size, num_layers=num_layers)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m writing.tiny", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write config, safetensors and tokenizer into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = build(args.out_dir, seed=args.seed)
    print(f"tiny Qwen3 checkpoint written to {out} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
