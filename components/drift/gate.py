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
def DriftGate(
    anomalies: InputArtifact[ExampleAnomalies],
    span: Parameter[int],
    training_anomalies: InputArtifact[ExampleAnomalies] = None,
) -> None:
    """`anomalies`: the new span against the span before it; `training_anomalies`:
    against the served model's training span, where that is an older span."""
    found = [
        (what, drift)
        for what, artifact in (
            ("the span before it", anomalies),
            ("the served model's training data", training_anomalies),
        )
        if artifact is not None and (drift := read_drift(artifact.uri)) and drift["drifted"]
    ]
    if found:
        lines = [
            f"from {what} in {', '.join(drift['drifted'])}:\n    " + "\n    ".join(drift["reasons"])
            for what, drift in found
        ]
        raise DataDriftError(
            f"span {span} drifted; drift.policy is stop, so nothing was trained:\n  "
            + "\n  ".join(lines)
        )
