"""A TFX component after the Pusher: regenerates the model server's models.config and
batching file under the serving root whenever a model was pushed
(components/export/server_config.py)."""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from aet.components.export.server_config import write_server_configs
from aet.config import DomainConfig


@component
def ServerConfigWriter(
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    domain_config: Parameter[str],
    serving_root: Parameter[str],
) -> None:
    if not pushed_model.get_int_custom_property("pushed"):
        return  # nothing new to serve: the files keep describing what is there
    serving = DomainConfig.parse_raw(domain_config).serving
    write_server_configs(
        serving_root, serving.model_name, serving.versions, serving.batching, serving.server_root
    )
