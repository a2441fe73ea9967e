"""The trained adapter as ONE .tar.gz of adapter_config.json + adapter_model.safetensors.

That single archive is what a SageMaker adapter inference component's Container.ArtifactUrl must point to.
The training job uploads /opt/ml/model uncompressed (OutputDataConfig.CompressionType NONE), so the archive
written here is the object the deployment uses, not wrapped in SageMaker's own model.tar.gz.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
from pathlib import Path

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
ARCHIVE_NAME = "adapter.tar.gz"


class PackagingError(ValueError):
    pass


def finalize_adapter_config(adapter_dir: Path, base_model: str) -> dict:
    """Names the catalog base model in adapter_config.json (PEFT writes the local weights path there)."""
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_model
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return config


def read_safetensors_header(path: Path) -> dict:
    """The safetensors header: 8 bytes little-endian length, then that many bytes of JSON."""
    with path.open("rb") as file:
        head = file.read(8)
        if len(head) != 8:
            raise PackagingError(f"{path.name} is too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        size = path.stat().st_size
        if length > size - 8:
            raise PackagingError(f"{path.name}: header length {length} exceeds the file ({size} bytes)")
        return json.loads(file.read(length))


def package_adapter(adapter_dir: Path, output_dir: Path) -> Path:
    """Writes output_dir/adapter.tar.gz with exactly the two adapter files at its root, reproducibly."""
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise PackagingError(f"adapter directory {adapter_dir} lacks {', '.join(missing)}")
    header = read_safetensors_header(adapter_dir / "adapter_model.safetensors")
    if not any(name != "__metadata__" for name in header):
        raise PackagingError("adapter_model.safetensors holds no tensors")
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / ARCHIVE_NAME
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name in ADAPTER_FILES:
            data = (adapter_dir / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0  # the same adapter gives the same archive
            tar.addfile(info, io.BytesIO(data))
    return archive
