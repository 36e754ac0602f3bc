"""The Pusher's executor: TFX's, except for how a version reaches the serving folder.

TFX's Pusher copies the model straight into `<base>/<unix time>/`, saved_model.pb last.
Killed mid-copy, it leaves a numbered folder that TF Serving tries to load and that
nothing removes; two pushes in one second share a version (the second is skipped but
recorded as pushed). Here a model is copied into a hidden `.partial-<version>` folder
beside the versions and renamed to its number only once complete, under the model
folder's lock: TF Serving only loads numbered folders, so it sees the whole model or
none. A copy that fails (a full disk, Ctrl-C) removes its folder at once, and the next
push removes what a killed one left. TFX offers no
hook for the copy itself, so `Do` is written out again around it.

On an object store (gs://, s3://) a folder cannot be renamed in one step: there the
copy is TFX's, saved_model.pb last.

It also declines pushes TFX would make (`refusal`): the served model again, as a new
version; a model judged without a baseline over versions already served; and a model
judged against another model than the one served when it is pushed. On a local
serving folder the check and the push happen under the model folder's lock, so no
other run's push comes between them.
"""

from __future__ import annotations

import os
import shutil
import time

from absl import logging
from tfx.components.evaluator import constants as evaluator_constants
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, path_utils, proto_utils

from aet.components.files import is_remote, locked, sha256_of
from aet.config.contract import SERVING_EXTRAS

PARTIAL_PREFIX = ".partial-"
NOT_PUSHED_BECAUSE = "not_pushed_because"  # the PushedModel's property when a push is refused
BASELINE_MODEL_KEY = evaluator_constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY
LOCK_WAIT_S = 600.0  # another run's push of the same model copies one SavedModel
REPLACE_SERVED = "replace_served"  # the Pusher's custom_config: judged by thresholds alone


def _versions(base: str) -> set[int]:
    names = (name.rstrip("/") for name in fileio.listdir(base))  # object stores end dirs in /
    return {int(name) for name in names if name.isdigit()}


def newest_version(base: str) -> str | None:
    """The folder of the newest complete version (one with its saved_model.pb) under
    `base`, if any; the folder's own name is kept ('007' stays '007')."""
    if not fileio.isdir(base):
        return None
    names = (name.rstrip("/") for name in fileio.listdir(base))
    complete = [
        name
        for name in names
        if name.isdigit() and fileio.exists(os.path.join(base, name, "saved_model.pb"))
    ]
    return os.path.join(base, max(complete, key=int)) if complete else None


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
        try:
            io_utils.copy_dir(model_path, partial)
        except BaseException:  # a full disk or Ctrl-C: give back the space now
            shutil.rmtree(partial, ignore_errors=True)
            raise
        serving_path = os.path.join(base, version)
        os.replace(partial, serving_path)
    return version, serving_path


def _files(folder: str) -> dict[str, str]:
    """Every file under `folder` by its path inside it, but those in assets.extra/: the
    warm-up requests and the model card the serving check adds describe a model, they
    are not part of it."""
    return {
        relative: os.path.join(root, name)
        for root, _, names in fileio.walk(folder)
        for name in names
        if not (relative := os.path.relpath(os.path.join(root, name), folder)).startswith(
            SERVING_EXTRAS + os.sep
        )
    }


def same_model(first: str, second: str) -> bool:
    """Whether two SavedModel folders hold one model: the same graph, weights and
    assets, byte for byte outside assets.extra/ (names and sizes first, so different
    models are told apart without reading them): a trained model and the version
    pushed from it differ only there, and a re-run writes a new model card."""
    files, others = _files(first), _files(second)
    if files.keys() != others.keys():
        return False
    if any(fileio.stat(files[k]).length != fileio.stat(others[k]).length for k in files):
        return False
    return all(sha256_of(files[k]) == sha256_of(others[k]) for k in files)


def refusal(
    input_dict: dict, model_path: str, base: str, *, replace_served: bool = False
) -> str | None:
    """Why a blessed model is not pushed to `base`, if it is not:
    - it is the newest version served there (`same_model`: a re-run judged against its
      own push);
    - it was judged without a baseline although versions are served there (pushed by
      another output folder, or after this run was built), so nothing showed it is no
      worse; or it was judged against another model than the one served now (a
      version pushed while this run trained, or this output's own blessed model where
      another output's push is served).
    `replace_served` (the config's `evaluation.baseline: none`) lets a model judged by
    its thresholds alone replace what is served."""
    served = newest_version(base)
    if served is None:
        return None
    if same_model(model_path, served):
        return f"it is already served, as {served}"
    if replace_served:
        return None
    again = (
        "run `aet run` again so that the Evaluator compares it with the served version (a "
        "pipeline compiled for Kubeflow compares with its own latest blessed model), or set "
        "evaluation.baseline: none to replace what is served"
    )
    (blessing,) = input_dict[standard_component_specs.MODEL_BLESSING_KEY]
    if not blessing.has_custom_property(BASELINE_MODEL_KEY):
        return (
            f"{served} is already served, and this model was evaluated without a baseline; {again}"
        )
    baseline = path_utils.serving_model_path(
        blessing.get_string_custom_property(BASELINE_MODEL_KEY)
    )
    if not same_model(baseline, served):
        return (
            f"{served} is served now, and this model was evaluated against another "
            f"model ({baseline}); {again}"
        )
    return None


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
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("the Pusher pushes to a filesystem destination only")
        base = destination.filesystem.base_directory
        model_path = self.GetModelPath(input_dict)
        custom_config = json_utils.loads(
            exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null"
        )
        replace = bool((custom_config or {}).get(REPLACE_SERVED))
        with locked(base, "--serving-dir", wait_s=LOCK_WAIT_S):  # a no-op on object stores
            reason = refusal(input_dict, model_path, base, replace_served=replace)
            if reason:
                logging.warning("not pushed: %s", reason)
                self._MarkNotPushed(model_push)
                model_push.set_string_custom_property(NOT_PUSHED_BECAUSE, reason)
                return
            io_utils.copy_dir(model_path, model_push.uri)
            version, serving_path = push_model(model_path, base)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
