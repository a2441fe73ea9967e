"""Metric lines on stdout, in the format SageMaker's MetricDefinitions (metrics.json) read from the logs."""

from __future__ import annotations

import json
import re
from pathlib import Path

METRICS_FILE = Path(__file__).with_name("metrics.json")
PREFIX = "tierline_metrics"


def metric_definitions() -> list[dict]:
    return json.loads(METRICS_FILE.read_text(encoding="utf-8"))["metricDefinitions"]


def metric_line(step: int, epoch: float, **values: float | int | None) -> str:
    """One line such as `tierline_metrics step=12 epoch=1.50 train_loss=1.234567 learning_rate=0.0002`."""
    parts = [PREFIX, f"step={step}", f"epoch={epoch:.2f}"]
    for name, value in values.items():
        if value is None:
            continue
        if not re.fullmatch(r"[a-z_]+", name):
            raise ValueError(f"metric name {name!r} must be lowercase letters and underscores")
        parts.append(f"{name}={value}" if isinstance(value, int) else f"{name}={value:.6g}")
    return " ".join(parts)


def parse_metric_line(line: str) -> dict[str, float]:
    """What SageMaker will extract from a log line, using the same regexes (for tests and local runs)."""
    found = {}
    for definition in metric_definitions():
        match = re.search(definition["Regex"], line)
        if match:
            found[definition["Name"]] = float(match.group(1))
    return found
