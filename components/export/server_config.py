"""The model server's configuration, written beside the pushed models after each push:

    <serving root>/
        models.config               --model_config_file: every pushed model under the root
        batching_parameters.txt     --batching_parameters_file (with --enable_batching)
        <model name>/<version>/     the SavedModels the Pusher wrote

Every domain run that pushes to the same serving root (`aet run ... --serving-dir`) adds
or updates its own entry and keeps the others', so one server serves every domain.
Paths in models.config are where the root is mounted on the server (`/models` in the
tensorflow/serving image), not where it is on this machine.
"""

from __future__ import annotations

import os

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from aet.components.files import locked, write_atomically
from aet.components.pusher.executor import newest_version
from aet.config import BatchingConfig

MODELS_CONFIG = "models.config"
BATCHING_FILE = "batching_parameters.txt"
LOCK_WAIT_S = 120.0  # a writer holds the lock for milliseconds


def pushed_models(serving_root: str) -> list[str]:
    """Names of the model folders under `serving_root` holding at least one version."""
    if not tf.io.gfile.isdir(serving_root):
        return []
    names = (name.rstrip("/") for name in sorted(tf.io.gfile.listdir(serving_root)))
    return [name for name in names if newest_version(os.path.join(serving_root, name))]


def read_models_config(serving_root: str) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    path = os.path.join(serving_root, MODELS_CONFIG)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as handle:
            text_format.Parse(handle.read(), config)
    return config


def models_config(
    serving_root: str, model_name: str, versions: int, server_root: str
) -> model_server_config_pb2.ModelServerConfig:
    """The model list of every model pushed under `serving_root`: `model_name` serving
    its latest `versions`, the others keeping the policy their own runs wrote."""
    listed = read_models_config(serving_root).model_config_list.config
    previous = {model.name: model for model in listed}
    config = model_server_config_pb2.ModelServerConfig()
    for name in pushed_models(serving_root):
        entry = config.model_config_list.config.add(
            name=name, base_path=f"{server_root.rstrip('/')}/{name}", model_platform="tensorflow"
        )
        if name == model_name:
            entry.model_version_policy.latest.num_versions = versions
        elif name in previous:
            entry.model_version_policy.CopyFrom(previous[name].model_version_policy)
    return config


def batching_parameters(batching: BatchingConfig) -> str:
    """The BatchingParameters text proto (TF Serving's API package does not ship it)."""
    return "".join(f"{name} {{ value: {value} }}\n" for name, value in batching.dict().items())


def write_server_configs(
    serving_root: str, model_name: str, versions: int, batching: BatchingConfig, server_root: str
) -> dict[str, str]:
    """Regenerates models.config and the batching file; returns their paths.

    Runs of other domains may push to the same root at the same time: the read, merge
    and write of models.config happen under the root's lock (waiting up to
    `LOCK_WAIT_S` for another writer), so no run's entry is lost; each file is replaced
    in one step, so the server never reads a torn one."""
    paths = {
        "models_config": os.path.join(serving_root, MODELS_CONFIG),
        "batching_parameters": os.path.join(serving_root, BATCHING_FILE),
    }
    with locked(serving_root, "--serving-dir", wait_s=LOCK_WAIT_S):
        config = models_config(serving_root, model_name, versions, server_root)
        write_atomically(paths["models_config"], text_format.MessageToString(config))
        write_atomically(paths["batching_parameters"], batching_parameters(batching))
    return paths
