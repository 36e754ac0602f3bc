"""A TFX component that stops a run whose new span drifted, when the domain's drift
policy is `stop`: DistributionValidator only records what it found, like
ExampleValidator, and nothing in TFX 1.15 acts on it. The factory orders Transform
after this gate, so nothing is trained on the drifted span and nothing is pushed."""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import ExampleAnomalies

from aet.components.drift.validation import read_drift


class DataDriftError(RuntimeError):
    """The new span's distributions moved past the thresholds; the message lists them."""


@component
def DriftGate(anomalies: InputArtifact[ExampleAnomalies], span: Parameter[int]) -> None:
    drift = read_drift(anomalies.uri)
    if drift and drift["drifted"]:
        raise DataDriftError(
            f"span {span} drifted from the span before it in {len(drift['drifted'])} "
            "features; drift.policy is stop, so nothing was trained:\n  "
            + "\n  ".join(drift["reasons"])
        )
