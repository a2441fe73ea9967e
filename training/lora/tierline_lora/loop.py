"""The training loop: AdamW with linear decay over n_epochs, loss on stdout as metric lines, a checkpoint
at the end of every epoch, and resumption from the latest checkpoint. It takes any torch module that answers
(input_ids, attention_mask, labels) with an object holding .loss (a PEFT model does), so it runs in tests on a
tiny torch model without transformers or peft.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import checkpoints
from .chat_data import IGNORE_INDEX, Example, batches
from .hyperparameters import Hyperparameters
from .metrics import metric_line

LOG_EVERY_STEPS = 10


@dataclass
class TrainingResult:
    steps: int
    trained_tokens: int
    first_loss: float | None
    last_loss: float | None
    valid_loss: float | None


def _loss(torch, model, chunk, device) -> "torch.Tensor":
    ids, mask, labels = (torch.tensor(x, device=device) for x in chunk)
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def evaluate(torch, model, examples: Sequence[Example], batch_size: int, pad_id: int, device) -> float | None:
    if not examples:
        return None
    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for chunk in batches(examples, batch_size, pad_id):
            n = sum(1 for row in chunk[2] for label in row[1:] if label != IGNORE_INDEX)
            total += float(_loss(torch, model, chunk, device)) * n
            weight += n
    model.train()
    return total / weight if weight else None


def train(
    torch,
    model,
    train_examples: Sequence[Example],
    valid_examples: Sequence[Example],
    hp: Hyperparameters,
    pad_id: int,
    checkpoint_root: Path,
    save_adapter: Callable[[Path], None],
    load_adapter: Callable[[Path], None],
    device="cpu",
    log: Callable[[str], None] = print,
) -> TrainingResult:
    torch.manual_seed(hp.seed)
    order = list(train_examples)
    steps_per_epoch = math.ceil(len(order) / hp.batch_size)
    total_steps = steps_per_epoch * hp.n_epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    start_epoch, step = 0, 0
    resumed = checkpoints.latest(checkpoint_root)
    if resumed:
        directory, marker = resumed
        load_adapter(directory)
        start_epoch, step = marker["epoch"], marker["step"]
        log(f"resumed from {directory.name} (epoch {start_epoch}, step {step})")
    # The adapter weights resume exactly; AdamW's moments start afresh (they would double the checkpoints).
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
    done = step
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - (s + done) / total_steps))

    tokens_per_epoch = sum(e.trained_tokens for e in order)
    first_loss = last_loss = valid_loss = None
    model.train()
    for epoch in range(start_epoch, hp.n_epochs):
        random.Random(hp.seed + epoch).shuffle(order)  # the same order on a resumed run
        for chunk in batches(order, hp.batch_size, pad_id):
            loss = _loss(torch, model, chunk, device)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            last_loss = float(loss)
            first_loss = last_loss if first_loss is None else first_loss
            if step % LOG_EVERY_STEPS == 0 or step == 1:
                log(metric_line(step, step / steps_per_epoch, train_loss=last_loss, learning_rate=schedule.get_last_lr()[0]))
        valid_loss = evaluate(torch, model, valid_examples, hp.batch_size, pad_id, device)
        directory = checkpoints.checkpoint_dir(checkpoint_root, step)
        directory.mkdir(parents=True, exist_ok=True)
        save_adapter(directory)
        metrics = {"train_loss": last_loss, "valid_loss": valid_loss}
        checkpoints.write_marker(directory, step, epoch + 1, metrics)
        log(
            metric_line(
                step,
                float(epoch + 1),
                train_loss=last_loss,
                valid_loss=valid_loss,
                trained_tokens=tokens_per_epoch * (epoch + 1),
            )
        )
    return TrainingResult(step, tokens_per_epoch * hp.n_epochs, first_loss, last_loss, valid_loss)
