"""The uploaded chat JSONL, checked and turned into token ids with the base model's chat template.

Each line is OpenAI's chat fine-tuning format: {"messages": [{"role": ..., "content": ...}, ...]}. Loss is
computed on assistant messages only (and not on those with "weight": 0, as OpenAI allows), so the model learns
to answer, not to write prompts. The API checks the same rules before a job is launched
(lambda/fine-tuning/training-file.ts); this is the second line of defence, with the same line numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence

ROLES = ("system", "user", "assistant")
# Labels with this value are ignored by PyTorch's cross-entropy (its default ignore_index).
IGNORE_INDEX = -100


class DataError(ValueError):
    """A training line that cannot be used; the message starts with its line number."""


class ChatTokenizer(Protocol):
    """The part of a Hugging Face tokenizer the conversion needs."""

    def apply_chat_template(
        self, conversation, tokenize: bool = ..., add_generation_prompt: bool = ..., return_dict: bool = ...
    ): ...


@dataclass(frozen=True)
class Example:
    line: int
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return len(self.input_ids)


def _text(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise DataError(f"{where}.content[{j}] must be a text part {{\"type\": \"text\", \"text\": ...}}")
            parts.append(part["text"])
        return "".join(parts)
    raise DataError(f"{where}.content must be a string or a list of text parts")


def parse_line(line_no: int, raw: str) -> list[dict]:
    """The messages of one line, normalised to {"role", "content", "weight"}; DataError names what is wrong."""
    prefix = f"line {line_no}"
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        raise DataError(f"{prefix}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise DataError(f'{prefix}: must be an object with a "messages" array')
    messages = []
    for i, message in enumerate(record["messages"]):
        where = f"{prefix}: messages[{i}]"
        if not isinstance(message, dict):
            raise DataError(f"{where} must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise DataError(f"{where}.role must be one of {', '.join(ROLES)} (got {json.dumps(role)})")
        content = _text(message.get("content"), f"{where}")
        if role != "system" and not content.strip():
            raise DataError(f"{where}.content is empty")
        weight = message.get("weight", 1)
        if role == "assistant" and weight not in (0, 1):
            raise DataError(f"{where}.weight must be 0 or 1")
        messages.append({"role": role, "content": content, "weight": weight if role == "assistant" else 0})
    if not any(m["role"] == "assistant" and m["weight"] == 1 for m in messages):
        raise DataError(f"{prefix}: needs at least one assistant message to learn from (with weight 1)")
    return messages


def read_conversations(path: Path) -> Iterator[tuple[int, list[dict]]]:
    """(line number, messages) for every non-blank line of a JSONL file."""
    with path.open(encoding="utf-8") as file:
        for line_no, raw in enumerate(file, start=1):
            if raw.strip():
                yield line_no, parse_line(line_no, raw)


def token_ids(encoded) -> list[int]:
    """The ids of one rendered conversation, whatever shape the tokenizer answered in.

    transformers v5 answers apply_chat_template(tokenize=True) with a BatchEncoding (a UserDict, not a dict)
    unless return_dict=False; v4 answers a list of ints. Some tokenizers answer a batch of one ([[...]]).
    """
    if not isinstance(encoded, (list, tuple)) and hasattr(encoded, "keys") and "input_ids" in encoded.keys():
        encoded = encoded["input_ids"]
    if hasattr(encoded, "tolist"):  # a tensor or an array
        encoded = encoded.tolist()
    ids = list(encoded)
    if len(ids) == 1 and isinstance(ids[0], (list, tuple)):
        ids = list(ids[0])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TypeError(f"the chat template answered {type(encoded).__name__}, not token ids")
    return ids


def _ids(tokenizer: ChatTokenizer, messages: Sequence[dict], add_generation_prompt: bool) -> list[int]:
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]
    try:
        # return_dict=False: a plain list in transformers v4 (its default) and v5 (whose default is a BatchEncoding).
        encoded = tokenizer.apply_chat_template(
            chat, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=False
        )
    except TypeError as error:
        if "return_dict" not in str(error):
            raise
        encoded = tokenizer.apply_chat_template(chat, tokenize=True, add_generation_prompt=add_generation_prompt)
    return token_ids(encoded)


def to_example(line_no: int, messages: Sequence[dict], tokenizer: ChatTokenizer, max_seq_length: int) -> Example:
    """Token ids of the whole conversation, with labels only on the assistant turns that are trained.

    A turn's tokens are those between the conversation rendered up to it (with the generation prompt) and
    rendered including it. Templates that render history differently from the last turn (Qwen3 drops earlier
    turns' reasoning) break that for some turns: those turns are not trained, the last one always is.
    """
    input_ids = _ids(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE_INDEX] * len(input_ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant" or message["weight"] != 1:
            continue
        before = _ids(tokenizer, messages[:i], add_generation_prompt=True)
        through = _ids(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if through[: len(before)] != before or input_ids[: len(through)] != through:
            continue
        labels[len(before) : len(through)] = through[len(before) :]
    if all(label == IGNORE_INDEX for label in labels[:max_seq_length]):
        raise DataError(
            f"line {line_no}: no assistant tokens left to learn from within max_seq_length={max_seq_length} "
            "(shorten the conversation or raise max_seq_length)"
        )
    return Example(line=line_no, input_ids=input_ids[:max_seq_length], labels=labels[:max_seq_length])


def load_examples(path: Path, tokenizer: ChatTokenizer, max_seq_length: int) -> list[Example]:
    return [to_example(n, messages, tokenizer, max_seq_length) for n, messages in read_conversations(path)]


def channel_file(channel_dir: Path) -> Path:
    """The one JSONL file of an input channel (SageMaker copies the S3 object under its own name)."""
    files = sorted(p for p in channel_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) != 1:
        raise DataError(f"input channel {channel_dir} must hold exactly one file, found {len(files)}")
    return files[0]


def padded(chunk: Sequence[Example], pad_id: int) -> tuple[list, list, list]:
    """(input_ids, attention_mask, labels) padded on the right to the longest row; padding is not learned."""
    width = max(len(e.input_ids) for e in chunk)
    ids, mask, labels = [], [], []
    for e in chunk:
        pad = width - len(e.input_ids)
        ids.append(e.input_ids + [pad_id] * pad)
        mask.append([1] * len(e.input_ids) + [0] * pad)
        labels.append(e.labels + [IGNORE_INDEX] * pad)
    return ids, mask, labels


def batches(examples: Sequence[Example], batch_size: int, pad_id: int) -> Iterator[tuple[list, list, list]]:
    """padded() batches of batch_size examples at a time, in order."""
    for start in range(0, len(examples), batch_size):
        yield padded(examples[start : start + batch_size], pad_id)
