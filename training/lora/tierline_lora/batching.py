"""Optimizer steps of batch_size examples, cut into micro-batches that fit a token budget.

Memory grows with the tokens in one forward pass (rows x padded width), not with the examples in a step, so
a step of `batch_size` conversations (the customer's batch size, "auto" up to 256) runs as several forward and
backward passes whose gradients add up before the optimizer steps (gradient accumulation). Each micro-batch
holds at most `token_budget` padded tokens; one example longer than the budget alone is one micro-batch (the
budget is never below max_seq_length, so that cannot exceed it).

Length bucketing: the epoch's shuffled order is cut into windows of BUCKET_STEPS steps; inside a window the
examples are sorted by length before they are cut into steps, so a step's examples are of similar length and
padding wastes little memory or compute; the steps of a window are then shuffled, so the order of lengths is not
the order of training. Everything depends only on the seed and the epoch: a resumed job plans the same steps.
"""

from __future__ import annotations

import random
from typing import Sequence

from .chat_data import IGNORE_INDEX, Example

# Steps whose examples are sorted together. Wider windows pad less and mix lengths less within an epoch.
BUCKET_STEPS = 16


def trained_label_count(example: Example) -> int:
    """Labels the loss counts: a causal LM predicts token i+1 from position i, so the first label never counts."""
    return sum(1 for label in example.labels[1:] if label != IGNORE_INDEX)


def micro_batches(step: Sequence[Example], token_budget: int) -> list[list[Example]]:
    """The step's examples, shortest first, packed while rows x longest row stays within token_budget."""
    packed: list[list[Example]] = []
    current: list[Example] = []
    for example in sorted(step, key=lambda e: len(e.input_ids)):
        # Sorted ascending: adding this example makes it the widest row of the micro-batch.
        if current and (len(current) + 1) * len(example.input_ids) > token_budget:
            packed.append(current)
            current = []
        current.append(example)
    if current:
        packed.append(current)
    return packed


def plan_epoch(
    examples: Sequence[Example], batch_size: int, token_budget: int, seed: int
) -> list[list[list[Example]]]:
    """The epoch's optimizer steps, each a list of micro-batches; ceil(len(examples) / batch_size) steps."""
    order = list(examples)
    random.Random(seed).shuffle(order)
    window = batch_size * BUCKET_STEPS
    steps: list[list[Example]] = []
    for start in range(0, len(order), window):
        ordered = sorted(order[start : start + window], key=lambda e: len(e.input_ids))
        group = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
        random.Random(f"{seed}:{start}").shuffle(group)
        steps.extend(group)
    return [micro_batches(step, token_budget) for step in steps]
