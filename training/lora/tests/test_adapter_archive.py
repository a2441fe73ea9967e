import json
import tarfile

import pytest
from fakes import write_safetensors
from tierline_lora.adapter_archive import (
    ARCHIVE_NAME,
    PackagingError,
    finalize_adapter_config,
    package_adapter,
    read_safetensors_header,
)


def adapter_dir(tmp_path):
    directory = tmp_path / "adapter"
    directory.mkdir()
    config = {"r": 16, "lora_alpha": 32, "base_model_name_or_path": "/opt/ml/input/data/model", "peft_type": "LORA"}
    (directory / "adapter_config.json").write_text(json.dumps(config))
    write_safetensors(
        directory / "adapter_model.safetensors",
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": ("F32", [16, 64])},
    )
    return directory


def test_names_the_catalog_base_model_instead_of_the_local_path(tmp_path):
    directory = adapter_dir(tmp_path)
    config = finalize_adapter_config(directory, "qwen3-8b")
    assert config["base_model_name_or_path"] == "qwen3-8b"
    assert json.loads((directory / "adapter_config.json").read_text())["r"] == 16


def test_writes_one_tar_gz_with_exactly_the_two_files_at_its_root(tmp_path):
    archive = package_adapter(adapter_dir(tmp_path), tmp_path / "model")
    assert archive == tmp_path / "model" / ARCHIVE_NAME
    assert [p.name for p in (tmp_path / "model").iterdir()] == [ARCHIVE_NAME]
    with tarfile.open(archive, "r:gz") as tar:
        assert tar.getnames() == ["adapter_config.json", "adapter_model.safetensors"]
        assert all(member.isfile() and member.mtime == 0 for member in tar.getmembers())


def test_the_same_adapter_gives_the_same_bytes(tmp_path):
    directory = adapter_dir(tmp_path)
    first = package_adapter(directory, tmp_path / "a").read_bytes()
    second = package_adapter(directory, tmp_path / "b").read_bytes()
    assert first[10:] == second[10:]  # bytes 4-9 of a gzip header hold its own timestamp and flags


def test_refuses_an_incomplete_or_empty_adapter(tmp_path):
    directory = adapter_dir(tmp_path)
    (directory / "adapter_config.json").unlink()
    with pytest.raises(PackagingError, match="lacks adapter_config.json"):
        package_adapter(directory, tmp_path / "out")
    (directory / "adapter_config.json").write_text("{}")
    write_safetensors(directory / "adapter_model.safetensors", {})
    with pytest.raises(PackagingError, match="holds no tensors"):
        package_adapter(directory, tmp_path / "out")


def test_reads_the_safetensors_header_and_refuses_a_truncated_file(tmp_path):
    path = write_safetensors(tmp_path / "x.safetensors", {"a": ("BF16", [2, 3])})
    assert read_safetensors_header(path)["a"] == {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(PackagingError, match="exceeds the file"):
        read_safetensors_header(path)
