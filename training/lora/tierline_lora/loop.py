"""The training loop: AdamW with linear decay over n_epochs, gradient accumulation over token-budgeted
micro-batches (batching.py), loss on stdout as metric lines, checkpoints at the end of every epoch and every
`checkpoint_every_seconds` within one (a managed spot job can be interrupted at any time), and resumption from
the latest checkpoint where it stopped: the adapter, AdamW's moments and the learning-rate schedule continue,
and the epoch's remaining steps are the ones its deterministic plan had left. It takes any torch module that
answers (input_ids, attention_mask, labels) with an object holding .loss, the mean over the labels that count
(a PEFT model does), so it runs in tests on a tiny torch model without transformers or peft.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import checkpoints
from .batching import micro_batches, plan_epoch, trained_label_count
from .chat_data import Example, padded
from .hyperparameters import Hyperparameters
from .metrics import metric_line

LOG_EVERY_STEPS = 10
# Spot capacity can be reclaimed with two minutes' notice: at most this much training is lost.
CHECKPOINT_EVERY_SECONDS = 1800
OPTIMIZER_FILE = "optimizer.pt"


@dataclass
class TrainingResult:
    steps: int
    trained_tokens: int
    first_loss: float | None
    last_loss: float | None
    valid_loss: float | None
    # Tokens (padding excluded) through forward and backward in this run, and the seconds they took.
    processed_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.processed_tokens / self.seconds if self.seconds > 0 else 0.0


def _loss(torch, model, chunk, device) -> "torch.Tensor":
    ids, mask, labels = (torch.tensor(x, device=device) for x in chunk)
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def evaluate(torch, model, examples: Sequence[Example], token_budget: int, pad_id: int, device) -> float | None:
    """The mean loss over every validation label, in micro-batches of the training's token budget."""
    if not examples:
        return None
    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for chunk in micro_batches(examples, token_budget):
            n = sum(trained_label_count(e) for e in chunk)
            total += float(_loss(torch, model, padded(chunk, pad_id), device).detach()) * n
            weight += n
    model.train()
    return total / weight if weight else None


def _step(torch, model, step: list[list[Example]], pad_id: int, device) -> tuple[float, int]:
    """Forward and backward over the step's micro-batches; the gradients add up to those of the step's mean loss."""
    counts = [sum(trained_label_count(e) for e in micro) for micro in step]
    total = max(1, sum(counts))
    loss_sum = 0.0
    tokens = 0
    for micro, count in zip(step, counts):
        if count == 0:
            continue
        loss = _loss(torch, model, padded(micro, pad_id), device)
        # The model answers the mean over this micro-batch's labels: weigh it by its share of the step's labels.
        (loss * (count / total)).backward()
        loss_sum += float(loss.detach()) * count
        tokens += sum(len(e.input_ids) for e in micro)
    return loss_sum / total, tokens


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
    checkpoint_every_seconds: float = CHECKPOINT_EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> TrainingResult:
    torch.manual_seed(hp.seed)
    examples = list(train_examples)
    steps_per_epoch = math.ceil(len(examples) / hp.batch_size)
    total_steps = steps_per_epoch * hp.n_epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
    start_epoch, step, skip = 0, 0, 0
    resumed = checkpoints.latest(checkpoint_root)
    if resumed:
        directory, marker = resumed
        load_adapter(directory)
        if (directory / OPTIMIZER_FILE).is_file():
            optimizer.load_state_dict(torch.load(directory / OPTIMIZER_FILE, map_location=device))
        start_epoch, step, skip = marker["epoch"], marker["step"], marker.get("epoch_step", 0)
        where = f"epoch {start_epoch}, step {step}" + (f", {skip} steps into the next epoch" if skip else "")
        log(f"resumed from {directory.name} ({where})")
    done = step
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - (s + done) / total_steps))

    def save(epochs_done: int, epoch_step: int, metrics: dict) -> None:
        directory = checkpoints.checkpoint_dir(checkpoint_root, step)
        directory.mkdir(parents=True, exist_ok=True)
        save_adapter(directory)
        torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
        checkpoints.write_marker(directory, step, epochs_done, metrics, epoch_step=epoch_step)

    tokens_per_epoch = sum(e.trained_tokens for e in examples)
    first_loss = last_loss = valid_loss = None
    processed, started = 0, clock()
    last_saved = started
    model.train()
    for epoch in range(start_epoch, hp.n_epochs):
        plan = plan_epoch(examples, hp.batch_size, hp.micro_batch_tokens, hp.seed + epoch)
        for index, step_batches in enumerate(plan):
            if epoch == start_epoch and index < skip:
                continue  # done before the checkpoint this run resumed from
            last_loss, tokens = _step(torch, model, step_batches, pad_id, device)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            processed += tokens
            first_loss = last_loss if first_loss is None else first_loss
            if step % LOG_EVERY_STEPS == 0 or step == 1:
                log(metric_line(step, step / steps_per_epoch, train_loss=last_loss, learning_rate=schedule.get_last_lr()[0]))
            if index + 1 < len(plan) and clock() - last_saved >= checkpoint_every_seconds:
                save(epoch, index + 1, {"train_loss": last_loss, "valid_loss": None})
                last_saved = clock()
        valid_loss = evaluate(torch, model, valid_examples, hp.micro_batch_tokens, pad_id, device)
        save(epoch + 1, 0, {"train_loss": last_loss, "valid_loss": valid_loss})
        last_saved = clock()
        log(
            metric_line(
                step,
                float(epoch + 1),
                train_loss=last_loss,
                valid_loss=valid_loss,
                trained_tokens=tokens_per_epoch * (epoch + 1),
            )
        )
    return TrainingResult(
        step, tokens_per_epoch * hp.n_epochs, first_loss, last_loss, valid_loss, processed, clock() - started
    )
