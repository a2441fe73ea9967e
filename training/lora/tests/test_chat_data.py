import json
from types import SimpleNamespace

import pytest
from fakes import WordTokenizer, chat, write_jsonl
from tierline_lora.chat_data import (
    IGNORE_INDEX,
    DataError,
    batches,
    channel_file,
    load_examples,
    parse_line,
    read_conversations,
    to_example,
    token_ids,
)


def trained_words(tokenizer, example):
    return tokenizer.decode([label for label in example.labels if label != IGNORE_INDEX])


def test_trains_only_on_the_assistant_answer_and_its_end_of_turn():
    tokenizer = WordTokenizer()
    messages = parse_line(1, json.dumps(chat("what is two plus two", "four", system="be brief")))
    example = to_example(1, messages, tokenizer, max_seq_length=100)

    assert tokenizer.decode(example.input_ids) == (
        "<bos> <system> be brief <eot> <user> what is two plus two <eot> <assistant> four <eot>".split()
    )
    assert trained_words(tokenizer, example) == ["four", "<eot>"]
    assert example.trained_tokens == len(example.input_ids) == 15


def test_trains_every_assistant_turn_except_those_with_weight_zero():
    tokenizer = WordTokenizer()
    record = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "bad answer", "weight": 0},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": [{"type": "text", "text": "good "}, {"type": "text", "text": "answer"}]},
        ]
    }
    example = to_example(1, parse_line(1, json.dumps(record)), tokenizer, 100)
    assert trained_words(tokenizer, example) == ["good", "answer", "<eot>"]


class BatchEncodingTokenizer(WordTokenizer):
    """transformers v5: apply_chat_template(tokenize=True) answers a BatchEncoding (a UserDict, not a dict)
    unless return_dict=False; v4 takes return_dict too and answers a list."""

    def __init__(self):
        super().__init__()
        self.return_dict_seen = []

    def apply_chat_template(self, conversation, tokenize=True, add_generation_prompt=False, return_dict=True):
        from collections import UserDict

        self.return_dict_seen.append(return_dict)
        ids = super().apply_chat_template(conversation, tokenize, add_generation_prompt)
        return UserDict({"input_ids": ids, "attention_mask": [1] * len(ids)}) if return_dict else ids


def test_transformers_v5_and_v4_answers_give_the_same_example():
    from collections import UserDict

    messages = parse_line(1, json.dumps(chat("what is two plus two", "four")))
    v5 = BatchEncodingTokenizer()
    plain = to_example(1, messages, WordTokenizer(), 100)
    assert to_example(1, messages, v5, 100) == plain
    assert set(v5.return_dict_seen) == {False}  # asked for a plain list
    # Whatever shape comes back, it is read as ids: a UserDict, a dict, a batch of one, a tensor-like.
    ids = [5, 6, 7]
    assert token_ids(UserDict({"input_ids": ids})) == ids
    assert token_ids({"input_ids": ids}) == ids
    assert token_ids([ids]) == ids
    assert token_ids(SimpleNamespace(tolist=lambda: ids)) == ids
    with pytest.raises(TypeError, match="not token ids"):
        token_ids(["a", "b"])


def test_a_template_that_rewrites_history_still_trains_the_last_turn():
    tokenizer = WordTokenizer(history_differs=True)
    record = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "first"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "second"},
        ]
    }
    example = to_example(1, parse_line(1, json.dumps(record)), tokenizer, 100)
    assert trained_words(tokenizer, example) == ["second", "<eot>"]


def test_truncates_to_max_seq_length_and_refuses_a_line_with_nothing_left_to_learn():
    tokenizer = WordTokenizer()
    messages = parse_line(7, json.dumps(chat("one two three four five six", "answer")))
    assert len(to_example(7, messages, tokenizer, 11).input_ids) == 11
    with pytest.raises(DataError, match=r"^line 7: no assistant tokens left .* max_seq_length=5"):
        to_example(7, messages, tokenizer, 5)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", r"^line 3: not valid JSON"),
        ('{"prompt": "x", "completion": "y"}', r'^line 3: must be an object with a "messages" array'),
        ('{"messages": ["hi"]}', r"^line 3: messages\[0\] must be an object"),
        (
            '{"messages": [{"role": "bot", "content": "x"}]}',
            r'^line 3: messages\[0\]\.role must be one of system, user, assistant \(got "bot"\)',
        ),
        ('{"messages": [{"role": "user", "content": 5}]}', r"^line 3: messages\[0\]\.content must be a string"),
        ('{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}', r"content\[0\] must be a text part"),
        ('{"messages": [{"role": "user", "content": "  "}]}', r"^line 3: messages\[0\]\.content is empty"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', r"^line 3: needs at least one assistant message"),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": 0}]}',
            r"needs at least one assistant message to learn from \(with weight 1\)",
        ),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": 2}]}',
            r"^line 3: messages\[1\]\.weight must be 0 or 1",
        ),
    ],
)
def test_every_bad_line_is_named(raw, message):
    with pytest.raises(DataError, match=message):
        parse_line(3, raw)


def test_reads_a_file_skipping_blank_lines_and_numbering_from_one(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [chat("a", "b"), "", chat("c", "d"), '{"messages": []}'])
    conversations = read_conversations(path)
    assert next(conversations)[0] == 1
    assert next(conversations)[0] == 3
    with pytest.raises(DataError, match=r"^line 4: needs at least one assistant message"):
        next(conversations)


def test_loads_examples_from_a_file(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [chat("a", "b"), chat("c", "d e")])
    examples = load_examples(path, WordTokenizer(), 64)
    assert [e.line for e in examples] == [1, 2]


def test_the_channel_holds_exactly_one_file(tmp_path):
    (tmp_path / "file-abc").write_text("{}")
    assert channel_file(tmp_path) == tmp_path / "file-abc"
    (tmp_path / "other").write_text("{}")
    with pytest.raises(DataError, match="exactly one file, found 2"):
        channel_file(tmp_path)


def test_batches_pad_on_the_right_and_ignore_the_padding_in_the_loss():
    tokenizer = WordTokenizer()
    examples = [
        to_example(1, parse_line(1, json.dumps(chat("a", "b"))), tokenizer, 64),
        to_example(2, parse_line(2, json.dumps(chat("a b c", "d"))), tokenizer, 64),
        to_example(3, parse_line(3, json.dumps(chat("x", "y"))), tokenizer, 64),
    ]
    first, second = list(batches(examples, 2, pad_id=0))
    ids, mask, labels = first
    assert len(ids[0]) == len(ids[1]) == len(examples[1].input_ids)
    assert ids[0][-2:] == [0, 0] and mask[0][-2:] == [0, 0] and labels[0][-2:] == [IGNORE_INDEX] * 2
    assert len(second[0]) == 1
