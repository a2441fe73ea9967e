import json
import re

from tierline_lora import checkpoints
from tierline_lora.metrics import metric_definitions, metric_line, parse_metric_line


def test_sagemaker_regexes_read_the_lines_the_script_prints():
    line = metric_line(12, 1.5, train_loss=1.234567891, learning_rate=0.0002)
    assert line == "tierline_metrics step=12 epoch=1.50 train_loss=1.23457 learning_rate=0.0002"
    assert parse_metric_line(line) == {"step": 12, "epoch": 1.5, "train_loss": 1.23457, "learning_rate": 0.0002}


def test_epoch_lines_carry_validation_loss_and_trained_tokens():
    line = metric_line(40, 2.0, train_loss=0.5, valid_loss=3.2e-5, trained_tokens=123456)
    assert parse_metric_line(line) == {
        "step": 40,
        "epoch": 2.0,
        "train_loss": 0.5,
        "valid_loss": 3.2e-5,
        "trained_tokens": 123456,
    }


def test_other_log_lines_yield_no_metrics():
    assert parse_metric_line("step=3 train_loss=1.0 from some library") == {}


def test_definitions_fit_sagemaker_limits():
    # CreateTrainingJob: at most 40 metric definitions, names up to 255 and regexes up to 500 characters.
    definitions = metric_definitions()
    assert len(definitions) <= 40
    for d in definitions:
        assert re.fullmatch(r".+", d["Name"]) and len(d["Name"]) <= 255 and len(d["Regex"]) <= 500
        assert re.compile(d["Regex"]).groups == 1


def test_latest_complete_checkpoint_wins_and_a_cut_one_is_ignored(tmp_path):
    assert checkpoints.latest(tmp_path / "none") is None
    for step, epoch in [(10, 1), (20, 2)]:
        directory = checkpoints.checkpoint_dir(tmp_path, step)
        directory.mkdir()
        checkpoints.write_marker(directory, step, epoch, {"train_loss": 1.0 / step})
    checkpoints.checkpoint_dir(tmp_path, 30).mkdir()  # the job stopped before its marker
    directory, marker = checkpoints.latest(tmp_path)
    assert directory.name == "checkpoint-00000020"
    assert marker == {"step": 20, "epoch": 2, "metrics": {"train_loss": 0.05}}
    assert json.loads((directory / "checkpoint.json").read_text())["step"] == 20
    assert not list(tmp_path.rglob(".*.tmp"))
