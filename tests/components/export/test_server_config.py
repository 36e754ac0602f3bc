"""models.config and the batching file: every pushed model under the serving root is
listed, the pushing domain's version policy is applied, the others' are kept."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from aet.components.export.server_config import (
    BATCHING_FILE,
    MODELS_CONFIG,
    pushed_models,
    read_models_config,
    write_server_configs,
)
from aet.components.files import FolderLocked
from aet.config import BatchingConfig
from tests.components.test_files import start_holding


def _push(root: Path, model: str, version: str) -> None:
    folder = root / model / version
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")


def _policies(root: Path) -> dict[str, int]:
    return {
        entry.name: entry.model_version_policy.latest.num_versions
        for entry in read_models_config(str(root)).model_config_list.config
    }


def test_only_folders_holding_a_version_are_models(tmp_path):
    _push(tmp_path, "finance_risk", "1700000000")
    (tmp_path / "half_pushed" / "1700000001").mkdir(parents=True)  # no saved_model.pb yet
    (tmp_path / "notes").mkdir()
    (tmp_path / MODELS_CONFIG).write_text("")
    assert pushed_models(str(tmp_path)) == ["finance_risk"]


def test_each_push_lists_every_model_and_keeps_the_others_policy(tmp_path):
    _push(tmp_path, "finance_risk", "1700000000")
    write_server_configs(str(tmp_path), "finance_risk", 3, BatchingConfig(), "/models")
    _push(tmp_path, "recommendation", "1700000500")
    paths = write_server_configs(str(tmp_path), "recommendation", 1, BatchingConfig(), "/models")

    assert paths["models_config"] == str(tmp_path / MODELS_CONFIG)
    assert _policies(tmp_path) == {"finance_risk": 3, "recommendation": 1}
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((tmp_path / MODELS_CONFIG).read_text(), config)
    entries = {entry.name: entry for entry in config.model_config_list.config}
    assert entries["recommendation"].base_path == "/models/recommendation"
    assert entries["finance_risk"].model_platform == "tensorflow"


def test_the_batching_file_holds_the_configured_parameters(tmp_path):
    _push(tmp_path, "finance_risk", "1700000000")
    batching = BatchingConfig(max_batch_size=32, batch_timeout_micros=500)
    write_server_configs(str(tmp_path), "finance_risk", 2, batching, "/srv/models/")
    lines = (tmp_path / BATCHING_FILE).read_text().splitlines()
    assert lines == [
        "max_batch_size { value: 32 }",
        "batch_timeout_micros { value: 500 }",
        "num_batch_threads { value: 4 }",
        "max_enqueued_batches { value: 100 }",
    ]
    assert read_models_config(str(tmp_path)).model_config_list.config[0].base_path == (
        "/srv/models/finance_risk"
    )


def test_a_writer_waits_for_another_run_writing_the_same_root(tmp_path, monkeypatch):
    import aet.components.export.server_config as server_config

    _push(tmp_path, "finance_risk", "1700000000")
    other = start_holding(tmp_path)  # another domain's run, between its read and write
    monkeypatch.setattr(server_config, "LOCK_WAIT_S", 0.3)
    with pytest.raises(FolderLocked, match=f"pid {other.pid}"):
        write_server_configs(str(tmp_path), "finance_risk", 2, BatchingConfig(), "/models")
    assert not (tmp_path / MODELS_CONFIG).exists()

    monkeypatch.setattr(server_config, "LOCK_WAIT_S", 30.0)
    threading.Timer(0.5, other.kill).start()
    write_server_configs(str(tmp_path), "finance_risk", 2, BatchingConfig(), "/models")
    other.wait()
    assert _policies(tmp_path) == {"finance_risk": 2}
