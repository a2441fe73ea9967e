import json

from fakes import WordTokenizer, chat
from tierline_lora.batching import BUCKET_STEPS, micro_batches, plan_epoch, trained_label_count
from tierline_lora.chat_data import parse_line, to_example


def examples_of_lengths(lengths):
    tokenizer = WordTokenizer()
    # <bos> <user> w... <eot> <assistant> a <eot>: 6 tokens around the user's words.
    return [
        to_example(i + 1, parse_line(i + 1, json.dumps(chat(" ".join(["w"] * (n - 6)), "a"))), tokenizer, 4096)
        for i, n in enumerate(lengths)
    ]


def test_a_micro_batch_never_holds_more_padded_tokens_than_the_budget():
    examples = examples_of_lengths([10, 40, 12, 38, 11, 100, 9, 39])
    packed = micro_batches(examples, token_budget=100)
    assert sorted(e.line for mb in packed for e in mb) == list(range(1, 9))
    for mb in packed:
        width = max(len(e.input_ids) for e in mb)
        assert len(mb) * width <= 100
    # Shortest first: the short ones share a pass, the 100-token one is a pass of its own.
    assert [[len(e.input_ids) for e in mb] for mb in packed] == [[9, 10, 11, 12], [38, 39], [40], [100]]


def test_an_epoch_has_ceil_n_over_batch_size_steps_of_similar_lengths_and_the_same_plan_for_the_same_seed():
    lengths = [8 + (i * 37) % 200 for i in range(100)]
    examples = examples_of_lengths(lengths)
    plan = plan_epoch(examples, batch_size=8, token_budget=512, seed=3)
    assert len(plan) == 13  # ceil(100 / 8)
    steps = [[e for mb in step for e in mb] for step in plan]
    assert sorted(e.line for step in steps for e in step) == list(range(1, 101))  # each example once
    assert sum(1 for step in steps if len(step) == 8) == 12
    # Bucketing: inside a step lengths are close; across the epoch they span the range.
    spread = [max(len(e.input_ids) for e in s) - min(len(e.input_ids) for e in s) for s in steps]
    assert max(spread) < 40 < max(lengths) - min(lengths)
    assert plan_epoch(examples, 8, 512, seed=3) == plan
    assert plan_epoch(examples, 8, 512, seed=4) != plan
    assert BUCKET_STEPS * 8 >= 100  # all of it in one window here


def test_the_first_label_never_counts():
    (example,) = examples_of_lengths([8])
    assert trained_label_count(example) == sum(1 for label in example.labels if label != -100)
