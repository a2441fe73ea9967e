import json

import pytest
from tierline_lora.hyperparameters import (
    BASE_LEARNING_RATE,
    HyperparameterError,
    auto_batch_size,
    auto_epochs,
    read_hyperparameters,
    resolve,
)


@pytest.mark.parametrize(("examples", "epochs"), [(10, 10), (20, 5), (30, 4), (1, 25), (1000, 3), (10_000, 2), (30_000, 1)])
def test_auto_epochs_keep_the_examples_seen_between_100_and_25000(examples, epochs):
    assert auto_epochs(examples) == epochs


@pytest.mark.parametrize(("examples", "size"), [(10, 1), (500, 1), (501, 2), (10_000, 20), (1_000_000, 256)])
def test_auto_batch_size_is_about_two_per_mille_of_the_examples(examples, size):
    assert auto_batch_size(examples) == size


def test_sagemaker_strings_are_decoded_and_auto_resolved():
    # CreateTrainingJob's HyperParameters is a map of strings, some JSON-encoded.
    hp = resolve(
        {
            "base_model": "qwen3-8b",
            "n_epochs": '"auto"',
            "batch_size": "4",
            "learning_rate_multiplier": "0.5",
            "lora_rank": "32",
            "lora_alpha": "64",
            "lora_dropout": "0",
            "target_modules": "q_proj, v_proj",
            "seed": "7",
        },
        n_examples=50,
    )
    assert hp.n_epochs == 3 and hp.batch_size == 4 and hp.lora_rank == 32 and hp.lora_alpha == 64
    assert hp.learning_rate == pytest.approx(BASE_LEARNING_RATE * 0.5)
    assert hp.lora_dropout == 0.0 and hp.seed == 7
    assert hp.target_modules == ("q_proj", "v_proj")


def test_defaults():
    hp = resolve({"base_model": "m"}, n_examples=1000)
    assert (hp.n_epochs, hp.batch_size, hp.lora_rank, hp.lora_alpha, hp.max_seq_length) == (3, 2, 16, 32, 4096)
    assert hp.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert json.loads(json.dumps(hp.as_dict()))["target_modules"] == list(hp.target_modules)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "base_model is required"),
        ({"base_model": "m", "n_epochs": "0"}, "n_epochs must be between 1 and 50, got 0"),
        ({"base_model": "m", "n_epochs": "2.5"}, 'n_epochs must be an integer or "auto"'),
        ({"base_model": "m", "n_epochs": "true"}, 'n_epochs must be an integer or "auto"'),
        ({"base_model": "m", "batch_size": "many"}, 'batch_size must be an integer or "auto", got \'many\''),
        ({"base_model": "m", "learning_rate_multiplier": "0"}, "learning_rate_multiplier must be 0 < value <= 10"),
        ({"base_model": "m", "lora_rank": '"auto"'}, "lora_rank must be an integer"),
        ({"base_model": "m", "lora_dropout": "0.9"}, "lora_dropout must be 0 <= value <= 0.5"),
        ({"base_model": "m", "target_modules": ""}, "target_modules must be a comma-separated list"),
        (
            {"base_model": "m", "max_seq_length": "8192", "micro_batch_tokens": "4096"},
            r"micro_batch_tokens \(4096\) must be at least max_seq_length \(8192\)",
        ),
        ({"base_model": "m", "gradient_checkpointing": "yes"}, "gradient_checkpointing must be true or false"),
    ],
)
def test_bad_values_are_named(values, message):
    with pytest.raises(HyperparameterError, match=message):
        resolve(values, n_examples=10)


def test_memory_settings_from_the_api():
    hp = resolve({"base_model": "m", "max_seq_length": "2048", "micro_batch_tokens": "16384", "gradient_checkpointing": "false"}, 10)
    assert (hp.max_seq_length, hp.micro_batch_tokens, hp.gradient_checkpointing) == (2048, 16384, False)
    defaults = resolve({"base_model": "m"}, 10)
    assert (defaults.micro_batch_tokens, defaults.gradient_checkpointing) == (8192, True)


def test_no_examples_is_an_error():
    with pytest.raises(HyperparameterError, match="no training examples"):
        resolve({"base_model": "m"}, 0)


def test_reads_the_file_sagemaker_writes(tmp_path):
    assert read_hyperparameters(tmp_path / "absent.json") == {}
    path = tmp_path / "hyperparameters.json"
    path.write_text('{"n_epochs": "3"}')
    assert read_hyperparameters(path) == {"n_epochs": "3"}
    path.write_text("[1]")
    with pytest.raises(HyperparameterError, match="must hold a JSON object"):
        read_hyperparameters(path)
