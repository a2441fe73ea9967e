"""The training job end to end on a CUDA GPU in bf16, at a real model's dimensions, printing tokens/s and
peak GPU memory: what a SageMaker training instance will see, measured before a customer's job meets it.
Run it with training/lora/gpu-smoke.sh (which says what it needs). Not part of the job's code (not packaged).

The base model is randomly initialised at the chosen dimensions (nothing is downloaded: the GPU machines reach
no hub); its tokenizer and chat template are the real ones (tests/sagemaker_job.py). The training data are
conversations whose lengths spread up to the training sequence cap, so micro-batches, accumulation, bucketing
and gradient checkpointing all work as they will on customers' data; the hyperparameters are the API's
defaults (lib/config/defaults.ts: maxSequenceTokens, microBatchTokens, default rank and modules).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
from sagemaker_job import job_environment, make_base_model, run_train, summary  # noqa: E402

# Dimensions from the models' published config.json files (Qwen/Qwen3-8B, Qwen/Qwen3-0.6B, meta-llama/Llama-3.1-8B).
SIZES = {
    "qwen3-8b": ("qwen3", {"hidden_size": 4096, "intermediate_size": 12_288, "num_hidden_layers": 36,
                           "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                           "max_position_embeddings": 40_960, "tie_word_embeddings": False, "rope_theta": 1_000_000}),
    "qwen3-0.6b": ("qwen3", {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
                             "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
                             "max_position_embeddings": 40_960, "tie_word_embeddings": True, "rope_theta": 1_000_000}),
    "llama-3.1-8b": ("llama", {"hidden_size": 4096, "intermediate_size": 14_336, "num_hidden_layers": 32,
                               "num_attention_heads": 32, "num_key_value_heads": 8,
                               "max_position_embeddings": 131_072, "tie_word_embeddings": False,
                               "rope_theta": 500_000}),
}

# The real test's tiny size: to check this script's plumbing on a machine without a GPU (--allow-cpu).
SIZES["tiny-qwen3"] = ("qwen3", {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                 "num_attention_heads": 4, "head_dim": 16, "num_key_value_heads": 2,
                                 "max_position_embeddings": 4096, "tie_word_embeddings": True})

WORDS = ("the invoice for order {n} was sent to the customer on Monday and paid in full by Friday, "
         "so the account is settled and no reminder is due").split()


def conversation(rng: random.Random, tokens: int, n: int) -> dict:
    """About `tokens` tokens (roughly 1.3 words a token in these templates), a question and an answer."""
    words = [w.format(n=n) for w in WORDS]
    body = " ".join(words[i % len(words)] for i in range(max(8, int(tokens / 1.3) - 40)))
    return {"messages": [
        {"role": "system", "content": "You answer questions about invoices."},
        {"role": "user", "content": f"Summarise this record: {body}"},
        {"role": "assistant", "content": f"Order {n} is paid; nothing is due. ({rng.randint(0, 999)})"},
    ]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="qwen3-8b")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=8192, help="fineTuning.training.maxSequenceTokens")
    parser.add_argument("--micro-batch-tokens", type=int, default=8192, help="fineTuning.training.microBatchTokens")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the model and job here (default: a temp dir)")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU (checks the script; measures nothing)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu-smoke: no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        print(f"gpu-smoke: {torch.cuda.get_device_name()} has no bf16; the job would train in fp32", file=sys.stderr)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="tierline-gpu-smoke-"))
    try:
        return smoke(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)  # an 8B model is 16 GB of disk


def smoke(args: argparse.Namespace, work: Path) -> int:
    import torch

    architecture, dimensions = SIZES[args.size]
    started = time.monotonic()
    # Stored in bf16 as the published weights are; the job loads them in bf16 on a GPU that has it.
    model_dir = make_base_model(work / "base", architecture, dimensions, dtype=torch.bfloat16)
    built = time.monotonic() - started
    rng = random.Random(0)
    # Spread from short to almost the cap, as customers' files are.
    low = min(256, args.max_seq_length // 4)
    lengths = [rng.randint(low, max(low, args.max_seq_length - 64)) for _ in range(args.examples)]
    training = [conversation(rng, n_tokens, i) for i, n_tokens in enumerate(lengths)]
    hyperparameters = {
        "base_model": args.size,
        "n_epochs": "1",
        "batch_size": str(args.batch_size),
        "learning_rate_multiplier": "1",
        "lora_rank": str(args.lora_rank),
        "lora_alpha": str(2 * args.lora_rank),
        "target_modules": args.target_modules,
        "max_seq_length": str(args.max_seq_length),
        "micro_batch_tokens": str(args.micro_batch_tokens),
        "seed": "1",
    }
    env = job_environment(work / "job", model_dir, hyperparameters, training, training[:4])
    done = run_train(env, timeout=3600)
    result = summary(work / "job")
    total = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else 0
    peak = result["peak_gpu_memory_bytes"] or 0
    report = {
        "size": args.size,
        "device": result["device"],
        "dtype": result["dtype"],
        "versions": result.get("versions"),
        "examples": args.examples,
        "batch_size": args.batch_size,
        "max_seq_length": args.max_seq_length,
        "micro_batch_tokens": args.micro_batch_tokens,
        "steps": result["steps"],
        "trained_tokens": result["trained_tokens"],
        "training_seconds": result["seconds"],
        "tokens_per_second": result["tokens_per_second"],
        "peak_gpu_memory_gib": round(peak / 2**30, 2),
        "gpu_memory_gib": round(total / 2**30, 2),
        "first_loss": result["first_loss"],
        "last_loss": result["last_loss"],
        "model_build_seconds": round(built, 1),
        "workdir": str(work) if args.workdir else None,
    }
    print(done.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=2))
    if args.allow_cpu and result["device"] == "cpu":
        print("gpu-smoke: ran on the CPU (--allow-cpu): the figures above are not a GPU measurement", file=sys.stderr)
        return 0
    if result["dtype"] != "bfloat16" or result["device"] == "cpu":
        print("gpu-smoke: the job did not train in bf16 on the GPU", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
