"""Checkpoints under /opt/ml/checkpoints, which SageMaker syncs to S3 (CheckpointConfig) while the job runs.

A checkpoint is a directory checkpoint-<step> with the adapter (PEFT's save_pretrained), AdamW's state
(optimizer.pt) and checkpoint.json, written last, so a directory without it is a checkpoint cut short and is ignored. A restarted job resumes
from the latest complete one; the API lists them as the job's checkpoints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MARKER = "checkpoint.json"


def checkpoint_dir(root: Path, step: int) -> Path:
    return root / f"checkpoint-{step:08d}"


def write_marker(directory: Path, step: int, epoch: int, metrics: dict, epoch_step: int = 0) -> None:
    """epoch: epochs completed; epoch_step: steps done in the epoch after them (0 at an epoch's end)."""
    marker = {"step": step, "epoch": epoch, "metrics": metrics}
    if epoch_step:
        marker["epoch_step"] = epoch_step
    temporary = directory / f".{MARKER}.tmp"
    temporary.write_text(json.dumps(marker, sort_keys=True), encoding="utf-8")
    temporary.rename(directory / MARKER)  # atomic: never a half-written marker


def latest(root: Path) -> tuple[Path, dict] | None:
    """The complete checkpoint with the highest step, and its marker."""
    best = None
    if not root.is_dir():
        return None
    for directory in root.iterdir():
        if not re.fullmatch(r"checkpoint-\d+", directory.name) or not (directory / MARKER).is_file():
            continue
        try:
            marker = json.loads((directory / MARKER).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        if best is None or marker["step"] > best[1]["step"]:
            best = (directory, marker)
    return best
