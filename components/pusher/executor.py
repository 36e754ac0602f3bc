"""The Pusher's executor: TFX's, except for how a version reaches the serving folder.

TFX's Pusher copies the model straight into `<base>/<unix time>/`, saved_model.pb last.
Killed mid-copy, it leaves a numbered folder that TF Serving tries to load and that
nothing removes; two pushes in one second share a version (the second is skipped but
recorded as pushed). Here a model is copied into a hidden `.partial-<version>` folder
beside the versions and renamed to its number only once complete, under the model
folder's lock: TF Serving only loads numbered folders, so it sees the whole model or
none, and the next push of the model removes what a killed one left. TFX offers no
hook for the copy itself, so `Do` is written out again around it.

On an object store (gs://, s3://) a folder cannot be renamed in one step: there the
copy is TFX's, saved_model.pb last.
"""

from __future__ import annotations

import os
import time

from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from aet.components.files import is_remote, locked

PARTIAL_PREFIX = ".partial-"
LOCK_WAIT_S = 600.0  # another run's push of the same model copies one SavedModel


def _versions(base: str) -> set[int]:
    names = (name.rstrip("/") for name in fileio.listdir(base))  # object stores end dirs in /
    return {int(name) for name in names if name.isdigit()}


def _new_version(base: str) -> int:
    """The push time in seconds, or the next free number after the newest version."""
    taken = _versions(base)
    return max(int(time.time()), max(taken, default=0) + 1)


def remove_partial_pushes(base: str) -> None:
    """Removes the hidden folders of pushes that were killed before they completed."""
    for name in fileio.listdir(base):
        if name.startswith(PARTIAL_PREFIX):
            fileio.rmtree(os.path.join(base, name.rstrip("/")))


def push_model(model_path: str, base: str) -> tuple[str, str]:
    """Copies the SavedModel at `model_path` into `base` as a new version, whole or not
    at all; returns (version, its folder)."""
    fileio.makedirs(base)
    if is_remote(base):
        version = str(_new_version(base))
        serving_path = os.path.join(base, version)
        io_utils.copy_dir(model_path, serving_path, deny_regex_patterns=[r"saved_model\.pb"])
        io_utils.copy_file(
            os.path.join(model_path, "saved_model.pb"), os.path.join(serving_path, "saved_model.pb")
        )
        return version, serving_path
    with locked(base, "--serving-dir", wait_s=LOCK_WAIT_S):
        remove_partial_pushes(base)
        version = str(_new_version(base))
        partial = os.path.join(base, PARTIAL_PREFIX + version)
        io_utils.copy_dir(model_path, partial)
        serving_path = os.path.join(base, version)
        os.replace(partial, serving_path)
    return version, serving_path


class Executor(tfx_pusher.Executor):
    """Pushes a blessed model with `push_model`; the archived copy in the Pusher's own
    artifact is written first, so that once the version appears only the metadata
    record of the push remains to be written."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("the Pusher pushes to a filesystem destination only")
        io_utils.copy_dir(model_path, model_push.uri)
        version, serving_path = push_model(model_path, destination.filesystem.base_directory)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
