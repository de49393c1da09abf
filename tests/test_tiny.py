import json

from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_checkpoint_loads_through_from_pretrained(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.eos_token_id in model.generation_config.eos_token_id
    assert (tiny_model_dir / "model.safetensors").is_file()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3" and config["tie_word_embeddings"] is True


def test_tokenizer_is_byte_level_and_round_trips_any_text(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for text in ["Hello, world!", "关于Transformer的介绍", "emoji 🙂 and tabs\tand\nnewlines", "ünïcödé"]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_chat_template_is_chatml(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    assert all(isinstance(i, int) and i < len(tokenizer) for i in ids)
