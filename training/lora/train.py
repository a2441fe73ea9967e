"""Tierline's LoRA fine-tuning job: the entry point SageMaker runs (sagemaker_program=train.py).

Inputs (SageMaker input channels, copied from S3 before the script starts; the job runs network isolated):
  model       the base model's Hugging Face files (config, tokenizer, safetensors weights)
  training    the customer's uploaded chat JSONL
  validation  optional, the same format
Hyperparameters arrive in /opt/ml/input/config/hyperparameters.json (see hyperparameters.py).
Outputs: /opt/ml/model/adapter.tar.gz (uploaded uncompressed, so it is the adapter component's ArtifactUrl),
checkpoints in /opt/ml/checkpoints (synced to S3; a managed spot job restarted after an interruption finds them
there and resumes), metric lines on stdout, training.json (steps, losses, tokens per second, peak GPU memory) in
SM_OUTPUT_DATA_DIR, and on failure the reason in /opt/ml/output/failure, which SageMaker reports as the job's
FailureReason.

Memory: the base weights are frozen and loaded in bf16 on GPUs that have it; gradient checkpointing keeps one
layer's activations instead of all of them; each forward pass holds at most micro_batch_tokens padded tokens
(batching.py), the requested batch size reached by gradient accumulation.

Only load_base_model() and the PEFT calls need transformers and peft (in the Hugging Face training image);
everything else is plain Python in tierline_lora/ (not "packaging" or "metrics": the script folder comes first
on sys.path, and transformers imports the PyPI package "packaging"), tested with pytest in training/lora/tests.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from tierline_lora.chat_data import DataError, channel_file, load_examples, read_conversations
from tierline_lora.hyperparameters import HyperparameterError, read_hyperparameters, resolve
from tierline_lora.loop import train
from tierline_lora.adapter_archive import PackagingError, finalize_adapter_config, package_adapter


@dataclass(frozen=True)
class Paths:
    hyperparameters: Path
    model: Path
    training: Path
    validation: Path | None
    output_model: Path
    output_data: Path
    checkpoints: Path
    failure: Path

    @staticmethod
    def from_env(env=os.environ) -> "Paths":
        root = Path(env.get("TIERLINE_SM_ROOT", "/opt/ml"))  # tests point this at a temporary folder
        data = root / "input" / "data"
        validation = Path(env.get("SM_CHANNEL_VALIDATION", data / "validation"))
        return Paths(
            hyperparameters=root / "input" / "config" / "hyperparameters.json",
            model=Path(env.get("SM_CHANNEL_MODEL", data / "model")),
            training=Path(env.get("SM_CHANNEL_TRAINING", data / "training")),
            validation=validation if validation.is_dir() else None,
            output_model=Path(env.get("SM_MODEL_DIR", root / "model")),
            output_data=Path(env.get("SM_OUTPUT_DATA_DIR", root / "output" / "data")),
            # CheckpointConfig.LocalPath (the state machine sets the default, /opt/ml/checkpoints).
            checkpoints=Path(env.get("TIERLINE_CHECKPOINT_DIR", root / "checkpoints")),
            failure=root / "output" / "failure",
        )


def dtype_argument(transformers_version: str) -> str:
    """from_pretrained's name for the weights' dtype: `dtype` from transformers 4.56 on (v5 drops `torch_dtype`)."""
    major, minor = (int(part) for part in transformers_version.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_base_model(model_dir: Path, gradient_checkpointing: bool = True):  # pragma: no cover - needs transformers
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, **{dtype_argument(transformers.__version__): dtype})
    if gradient_checkpointing:
        # Non-reentrant checkpointing (PyTorch's recommendation) works with frozen inputs: PEFT's LoRA weights
        # get their gradients without enable_input_require_grads().
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False  # the KV cache is for generation; with checkpointing transformers turns it off
    return tokenizer, model


def with_lora(model, hp):  # pragma: no cover - needs peft
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=hp.lora_rank,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(hp.target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(model, config)


def load_adapter_weights(model, directory: Path) -> None:  # pragma: no cover - needs peft
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(directory / "adapter_model.safetensors")))


def library_versions() -> dict[str, str]:
    """What trained the adapter (the modules imported, whichever copy of them Python found)."""
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def run(paths: Paths) -> None:
    import torch

    raw = read_hyperparameters(paths.hyperparameters)
    training_file = channel_file(paths.training)
    n_examples = sum(1 for _ in read_conversations(training_file))  # checks every line before loading weights
    hp = resolve(raw, n_examples)
    print(f"hyperparameters {hp.as_dict()} examples={n_examples}", flush=True)

    tokenizer, base = load_base_model(paths.model, hp.gradient_checkpointing)
    train_examples = load_examples(training_file, tokenizer, hp.max_seq_length)
    valid_examples = (
        load_examples(channel_file(paths.validation), tokenizer, hp.max_seq_length) if paths.validation else []
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = with_lora(base, hp).to(device)
    model.print_trainable_parameters()

    result = train(
        torch,
        model,
        train_examples,
        valid_examples,
        hp,
        pad_id,
        paths.checkpoints,
        save_adapter=lambda d: model.save_pretrained(str(d), safe_serialization=True),
        load_adapter=lambda d: load_adapter_weights(model, d),
        device=device,
        log=lambda line: print(line, flush=True),
    )
    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory, safe_serialization=True)
        finalize_adapter_config(Path(directory), hp.base_model)
        archive = package_adapter(Path(directory), paths.output_model)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    summary = {
        "steps": result.steps,
        "trained_tokens": result.trained_tokens,
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        "valid_loss": result.valid_loss,
        "processed_tokens": result.processed_tokens,
        "seconds": round(result.seconds, 3),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "peak_gpu_memory_bytes": peak,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": str(next(base.parameters()).dtype).replace("torch.", ""),
        "versions": library_versions(),
        "hyperparameters": hp.as_dict(),
    }
    paths.output_data.mkdir(parents=True, exist_ok=True)
    (paths.output_data / "training.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    memory = f", peak GPU memory {peak / 2**30:.2f} GiB" if peak is not None else ""
    print(
        f"wrote {archive} after {result.steps} steps, {result.trained_tokens} trained tokens; "
        f"{result.tokens_per_second:.0f} tokens/s{memory}",
        flush=True,
    )


def main() -> int:
    paths = Paths.from_env()
    try:
        run(paths)
        return 0
    except (DataError, HyperparameterError, PackagingError) as error:
        reason = str(error)
    except Exception as error:  # noqa: BLE001 - every failure must reach FailureReason
        traceback.print_exc()
        reason = f"training failed: {type(error).__name__}: {error}"
    print(reason, file=sys.stderr, flush=True)
    paths.failure.parent.mkdir(parents=True, exist_ok=True)
    # SageMaker keeps the first 1024 characters of the failure file as FailureReason.
    paths.failure.write_text(reason[:1024], encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
