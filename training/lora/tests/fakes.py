"""A word-level tokenizer with a Llama-3-style chat template: what the conversion needs, no transformers."""

import json
import struct
from pathlib import Path


class WordTokenizer:
    pad_token_id = 0
    eos_token_id = 1

    def __init__(self, history_differs: bool = False):
        self.vocabulary = {"<pad>": 0, "<eot>": 1}
        # Like Qwen3: earlier assistant turns render differently from the last one.
        self.history_differs = history_differs

    def _id(self, word: str) -> int:
        return self.vocabulary.setdefault(word, len(self.vocabulary))

    def render(self, conversation, add_generation_prompt: bool) -> list[str]:
        words = ["<bos>"]
        for i, message in enumerate(conversation):
            content = message["content"].split()
            if self.history_differs and message["role"] == "assistant" and i < len(conversation) - 1:
                content = ["(earlier)"] + content
            words += [f"<{message['role']}>", *content, "<eot>"]
        if add_generation_prompt:
            words.append("<assistant>")
        return words

    def apply_chat_template(self, conversation, tokenize=True, add_generation_prompt=False):
        words = self.render(conversation, add_generation_prompt)
        return [self._id(w) for w in words] if tokenize else " ".join(words)

    def decode(self, ids) -> list[str]:
        names = {v: k for k, v in self.vocabulary.items()}
        return [names[i] for i in ids]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def chat(user: str, assistant: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": messages + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> Path:
    """A valid safetensors file with zero-filled tensors: {name: (dtype, shape)}."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for dim in shape:
            n *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(offset))
    return path
