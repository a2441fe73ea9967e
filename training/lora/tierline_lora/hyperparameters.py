"""Hyperparameters of a LoRA fine-tuning job, resolved from SageMaker's hyperparameters.json.

SageMaker passes every hyperparameter as a string (CreateTrainingJob's HyperParameters is a map of strings),
so each one is parsed and checked here; a bad value stops the job before any weights are loaded, with a
message naming the hyperparameter. "auto" values follow OpenAI's published rules for n_epochs and batch size
(the API resolves them the same way to show the estimated cost: lambda/fine-tuning/hyperparameters.ts).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

# OpenAI's fine-tuning rules for "auto" epochs: aim at 3 epochs, but keep the examples seen between
# 100 and 25,000, with 1 to 25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_AUTO_EPOCHS = 1
MAX_AUTO_EPOCHS = 25
# "auto" batch size: about 0.2% of the examples, between 1 and 256 (OpenAI's documented bound).
MAX_BATCH_SIZE = 256
# The training sequence cap when the API sends none (it sends fineTuning.training.maxSequenceTokens).
DEFAULT_MAX_SEQ_LENGTH = 4096
# Padded tokens in one forward pass when the API sends none (fineTuning.training.microBatchTokens).
DEFAULT_MICRO_BATCH_TOKENS = 8192
# The learning rate a multiplier of 1 means: a common LoRA learning rate for Llama-style models.
BASE_LEARNING_RATE = 2e-4


class HyperparameterError(ValueError):
    """A hyperparameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class Hyperparameters:
    base_model: str
    n_epochs: int
    batch_size: int
    learning_rate: float
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    target_modules: tuple[str, ...]
    max_seq_length: int
    micro_batch_tokens: int
    gradient_checkpointing: bool
    seed: int

    def as_dict(self) -> dict:
        return {**asdict(self), "target_modules": list(self.target_modules)}


def auto_epochs(n_examples: int) -> int:
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_AUTO_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / n_examples))
    elif n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_AUTO_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


def auto_batch_size(n_examples: int) -> int:
    return max(1, min(MAX_BATCH_SIZE, math.ceil(n_examples * 0.002)))


def _decode(raw: object) -> object:
    # The AWS SDK (and the SageMaker Python SDK) may JSON-encode values: '"auto"', '3', '0.5'.
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _int(values: dict, name: str, low: int, high: int, default: int | None = None, auto=None) -> int:
    raw = _decode(values.get(name, default))
    if raw is None:
        raise HyperparameterError(f"hyperparameter {name} is required")
    if raw == "auto" and auto is not None:
        return auto()
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw != int(raw):
        raise HyperparameterError(f"hyperparameter {name} must be an integer or \"auto\", got {raw!r}")
    if not low <= int(raw) <= high:
        raise HyperparameterError(f"hyperparameter {name} must be between {low} and {high}, got {int(raw)}")
    return int(raw)


def _float(values: dict, name: str, high: float, default: float, allow_zero: bool, auto=None) -> float:
    raw = _decode(values.get(name, default))
    if raw == "auto" and auto is not None:
        return auto()
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise HyperparameterError(f"hyperparameter {name} must be a number or \"auto\", got {raw!r}")
    low_ok = float(raw) >= 0 if allow_zero else float(raw) > 0
    if not low_ok or float(raw) > high:
        low = "0 <=" if allow_zero else "0 <"
        raise HyperparameterError(f"hyperparameter {name} must be {low} value <= {high}, got {raw}")
    return float(raw)


def _bool(values: dict, name: str, default: bool) -> bool:
    raw = _decode(values.get(name, default))
    if not isinstance(raw, bool):
        raise HyperparameterError(f"hyperparameter {name} must be true or false, got {raw!r}")
    return raw


def resolve(values: dict, n_examples: int) -> Hyperparameters:
    """Every hyperparameter checked and "auto" replaced by its value for a data set of n_examples."""
    if n_examples < 1:
        raise HyperparameterError("no training examples")
    base_model = _decode(values.get("base_model"))
    if not isinstance(base_model, str) or not base_model:
        raise HyperparameterError("hyperparameter base_model is required (the catalog id of the base model)")
    modules = _decode(values.get("target_modules", "q_proj,k_proj,v_proj,o_proj"))
    if isinstance(modules, str):
        modules = [m.strip() for m in modules.split(",") if m.strip()]
    if not isinstance(modules, list) or not modules or not all(isinstance(m, str) and m for m in modules):
        raise HyperparameterError("hyperparameter target_modules must be a comma-separated list of module names")
    multiplier = _float(values, "learning_rate_multiplier", 10, 1.0, allow_zero=False, auto=lambda: 1.0)
    max_seq_length = _int(values, "max_seq_length", 16, 131_072, DEFAULT_MAX_SEQ_LENGTH)
    micro_batch_tokens = _int(values, "micro_batch_tokens", 16, 1_048_576, DEFAULT_MICRO_BATCH_TOKENS)
    if micro_batch_tokens < max_seq_length:
        # The longest example must fit one forward pass on its own.
        raise HyperparameterError(
            f"hyperparameter micro_batch_tokens ({micro_batch_tokens}) must be at least max_seq_length ({max_seq_length})"
        )
    return Hyperparameters(
        base_model=base_model,
        n_epochs=_int(values, "n_epochs", 1, 50, "auto", auto=lambda: auto_epochs(n_examples)),
        batch_size=_int(values, "batch_size", 1, MAX_BATCH_SIZE, "auto", auto=lambda: auto_batch_size(n_examples)),
        learning_rate=BASE_LEARNING_RATE * multiplier,
        lora_rank=_int(values, "lora_rank", 1, 256, 16),
        lora_alpha=_int(values, "lora_alpha", 1, 512, 32),
        lora_dropout=_float(values, "lora_dropout", 0.5, 0.05, allow_zero=True),
        target_modules=tuple(modules),
        max_seq_length=max_seq_length,
        micro_batch_tokens=micro_batch_tokens,
        gradient_checkpointing=_bool(values, "gradient_checkpointing", True),
        seed=_int(values, "seed", 0, 2**31 - 1, 42),
    )


def read_hyperparameters(path: Path) -> dict:
    """The raw map SageMaker wrote; an absent file means no hyperparameters."""
    if not path.exists():
        return {}
    values = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(values, dict):
        raise HyperparameterError(f"{path} must hold a JSON object")
    return values
