"""A TFX component before the Evaluator: the newest served version as a Model artifact.

The blessed model in an output folder's metadata is not always what is served: a
serving folder may be shared by several output folders, and a model blessed but failed
by the serving check was never pushed. A new model has to be no worse than what its
users get now, so the factory takes that as the baseline whenever a version is served.
The Evaluator reads a Model artifact's SavedModel from its `Format-Serving` folder,
where TFX's Importer cannot put it, hence the copy.
"""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

SERVED_VERSION = "served_version"  # the baseline's property: the version folder it copies


@component
def ServedBaseline(
    version_dir: Parameter[str],
    baseline: OutputArtifact[standard_artifacts.Model],
) -> None:
    if not fileio.exists(os.path.join(version_dir, "saved_model.pb")):
        raise FileNotFoundError(
            f"the served version {version_dir} is gone or has no saved_model.pb; "
            "it was there when the run started"
        )
    io_utils.copy_dir(version_dir, path_utils.serving_model_dir(baseline.uri))
    baseline.set_string_custom_property(SERVED_VERSION, version_dir)
