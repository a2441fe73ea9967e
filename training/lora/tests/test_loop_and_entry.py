import json
from dataclasses import replace
from types import SimpleNamespace

import torch
from fakes import WordTokenizer, chat, write_jsonl
from tierline_lora.chat_data import load_examples
from tierline_lora.hyperparameters import resolve
from tierline_lora.loop import train
from tierline_lora.metrics import parse_metric_line

import train as entry


class TinyCausalLM(torch.nn.Module):
    """A frozen embedding and a trainable head: answers (input_ids, attention_mask, labels) like a PEFT model."""

    def __init__(self, vocabulary: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocabulary, 16)
        self.embed.weight.requires_grad_(False)
        self.head = torch.nn.Linear(16, vocabulary)

    def forward(self, input_ids, attention_mask, labels):
        logits = self.head(self.embed(input_ids))
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
        )
        return SimpleNamespace(loss=loss)


def prepare(tmp_path, n_epochs):
    tokenizer = WordTokenizer()
    path = write_jsonl(tmp_path / "train.jsonl", [chat(f"say {w}", "ok that is done") for w in "abcdefgh"])
    examples = load_examples(path, tokenizer, 64)
    hp = resolve(
        {"base_model": "tiny", "n_epochs": str(n_epochs), "batch_size": "4", "learning_rate_multiplier": "10"},
        len(examples),
    )
    # A higher rate than LoRA's 2e-4 so a model of a few hundred weights learns within a few dozen steps.
    return tokenizer, examples, replace(hp, learning_rate=0.05)


def run(tmp_path, n_epochs, lines):
    tokenizer, examples, hp = prepare(tmp_path, n_epochs)
    torch.manual_seed(0)
    model = TinyCausalLM(len(tokenizer.vocabulary))

    def save(directory):
        torch.save(model.head.state_dict(), directory / "head.pt")

    def load(directory):
        model.head.load_state_dict(torch.load(directory / "head.pt"))

    return train(torch, model, examples, examples[:2], hp, 0, tmp_path / "checkpoints", save, load, log=lines.append)


def test_the_loss_falls_and_every_epoch_leaves_a_checkpoint_and_a_metric_line(tmp_path):
    lines = []
    result = run(tmp_path, 3, lines)
    assert result.steps == 6  # 8 examples, batches of 4, 3 epochs
    assert result.last_loss < result.first_loss
    epoch_metrics = [parse_metric_line(line) for line in lines if "trained_tokens" in line]
    assert [m["epoch"] for m in epoch_metrics] == [1.0, 2.0, 3.0]
    assert all("valid_loss" in m for m in epoch_metrics)
    assert epoch_metrics[-1]["trained_tokens"] == result.trained_tokens == 3 * sum(e.trained_tokens for e in prepare(tmp_path, 1)[1])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "checkpoint-00000002",
        "checkpoint-00000004",
        "checkpoint-00000006",
    ]


def test_the_loss_falls_by_more_than_half_over_more_epochs(tmp_path):
    result = run(tmp_path, 25, [])
    assert result.last_loss < result.first_loss / 2


def test_a_restarted_job_resumes_from_its_latest_checkpoint(tmp_path):
    run(tmp_path, 2, [])
    lines = []
    result = run(tmp_path, 3, lines)
    assert lines[0] == "resumed from checkpoint-00000004 (epoch 2, step 4)"
    assert result.steps == 6
    assert [parse_metric_line(line)["epoch"] for line in lines if "trained_tokens" in line] == [3.0]


def sagemaker_root(tmp_path, training_lines, hyperparameters):
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (tmp_path / "input" / "data" / "training").mkdir(parents=True)
    write_jsonl(tmp_path / "input" / "data" / "training" / "file-abc.jsonl", training_lines)
    return entry.Paths.from_env({"TIERLINE_SM_ROOT": str(tmp_path)})


def test_paths_follow_sagemaker_layout_and_environment():
    paths = entry.Paths.from_env({"SM_CHANNEL_TRAINING": "/data/t", "SM_MODEL_DIR": "/m"})
    assert paths.hyperparameters.as_posix() == "/opt/ml/input/config/hyperparameters.json"
    assert paths.model.as_posix() == "/opt/ml/input/data/model"
    assert (paths.training.as_posix(), paths.output_model.as_posix()) == ("/data/t", "/m")
    assert paths.checkpoints.as_posix() == "/opt/ml/checkpoints"
    assert paths.failure.as_posix() == "/opt/ml/output/failure"


def test_a_bad_line_fails_the_job_before_the_weights_load_and_names_the_line(tmp_path, monkeypatch):
    paths = sagemaker_root(tmp_path, [chat("a", "b"), '{"messages": [{"role": "user", "content": "x"}]}'], {"base_model": "m"})
    monkeypatch.setattr(entry, "load_base_model", lambda *_: (_ for _ in ()).throw(AssertionError("loaded weights")))
    monkeypatch.setattr(entry, "Paths", SimpleNamespace(from_env=lambda: paths))
    assert entry.main() == 1
    assert paths.failure.read_text() == "line 2: needs at least one assistant message to learn from (with weight 1)"


def test_a_bad_hyperparameter_fails_the_job_with_its_name(tmp_path, monkeypatch):
    paths = sagemaker_root(tmp_path, [chat("a", "b")], {"base_model": "m", "lora_rank": "0"})
    monkeypatch.setattr(entry, "Paths", SimpleNamespace(from_env=lambda: paths))
    assert entry.main() == 1
    assert paths.failure.read_text() == "hyperparameter lora_rank must be between 1 and 256, got 0"


def test_an_unexpected_error_still_reaches_the_failure_reason(tmp_path, monkeypatch):
    paths = sagemaker_root(tmp_path, [chat("a", "b")], {"base_model": "m"})
    monkeypatch.setattr(entry, "load_base_model", lambda *_: (_ for _ in ()).throw(OSError("no config.json in model")))
    monkeypatch.setattr(entry, "Paths", SimpleNamespace(from_env=lambda: paths))
    assert entry.main() == 1
    assert paths.failure.read_text() == "training failed: OSError: no config.json in model"


def test_a_job_interrupted_mid_epoch_resumes_at_the_next_step_and_ends_where_an_uninterrupted_one_does(tmp_path):
    """Spot capacity reclaimed mid-epoch: checkpoints every step here (checkpoint_every_seconds=0); the job
    restarted from the one after step 3 of epoch 2 trains the remaining steps with AdamW's state restored and
    ends with the same weights as a job never interrupted."""
    tokenizer, examples, hp = prepare(tmp_path, 3)

    def job(root, interrupt_after=None):
        torch.manual_seed(0)
        model = TinyCausalLM(len(tokenizer.vocabulary))
        saves = []

        def save(directory):
            torch.save(model.head.state_dict(), directory / "head.pt")
            saves.append(directory.name)
            if interrupt_after is not None and len(saves) == interrupt_after:
                raise KeyboardInterrupt  # the instance goes away

        def load(directory):
            model.head.load_state_dict(torch.load(directory / "head.pt"))

        lines = []
        try:
            result = train(torch, model, examples, [], replace(hp, batch_size=2), 0, root, save, load,
                           log=lines.append, checkpoint_every_seconds=0)
        except KeyboardInterrupt:
            return None, model, lines
        return result, model, lines

    straight, straight_model, _ = job(tmp_path / "a")
    assert straight.steps == 12  # 8 examples, batches of 2, 3 epochs
    # Interrupted while writing the 8th checkpoint: that one has no marker and is ignored.
    job(tmp_path / "b", interrupt_after=8)
    result, resumed_model, lines = job(tmp_path / "b")
    assert lines[0] == "resumed from checkpoint-00000007 (epoch 1, step 7, 3 steps into the next epoch)"
    assert result.steps == 12
    torch.testing.assert_close(resumed_model.head.weight, straight_model.head.weight)
    assert [parse_metric_line(line)["epoch"] for line in lines if "trained_tokens" in line] == [2.0, 3.0]


def test_micro_batches_accumulate_to_the_gradient_of_the_whole_batch(tmp_path):
    """A token budget that splits each step into several forward passes gives the weights one big batch gives."""
    tokenizer, _, hp = prepare(tmp_path, 2)
    # Different lengths: each forward pass's mean loss must be weighed by its share of the step's labels.
    lines = [chat("say " + " ".join(["w"] * i), " ".join(["ok"] * (1 + i % 3))) for i in range(8)]
    examples = load_examples(write_jsonl(tmp_path / "varied.jsonl", lines), tokenizer, 64)

    def weights(budget, root):
        torch.manual_seed(0)
        model = TinyCausalLM(len(tokenizer.vocabulary))
        train(torch, model, examples, [], replace(hp, micro_batch_tokens=budget), 0, root,
              lambda d: None, lambda d: None, log=lambda line: None)
        return model.head.weight.detach().clone()

    longest = max(len(e.input_ids) for e in examples)
    one_pass = weights(4 * longest, tmp_path / "a")  # the 4 examples of a step in one forward pass
    accumulated = weights(longest, tmp_path / "b")  # one example per forward pass
    torch.testing.assert_close(accumulated, one_pass, rtol=1e-4, atol=1e-6)


def test_the_weights_dtype_is_passed_under_the_name_the_installed_transformers_reads():
    # transformers renamed from_pretrained's torch_dtype to dtype in 4.56; v5 reads only dtype.
    assert entry.dtype_argument("4.49.0") == "torch_dtype"
    assert entry.dtype_argument("4.55.4") == "torch_dtype"
    assert entry.dtype_argument("4.56.0") == "dtype"
    assert entry.dtype_argument("5.3.0") == "dtype"
    assert entry.dtype_argument("5.0.0rc1") == "dtype"


def test_paths_take_sagemakers_output_data_dir_and_the_checkpoint_dir_from_the_environment():
    paths = entry.Paths.from_env({"SM_OUTPUT_DATA_DIR": "/out", "TIERLINE_CHECKPOINT_DIR": "/ckpt"})
    assert (paths.output_data.as_posix(), paths.checkpoints.as_posix()) == ("/out", "/ckpt")
    assert entry.Paths.from_env({}).output_data.as_posix() == "/opt/ml/output/data"
