"""The drift and skew checks' validator: TFX's DistributionValidator (the same spec,
inputs and anomalies), run by the executor that judges no distance below the
sampling floor of the two samples it compares (components/drift/executor.py)."""

from __future__ import annotations

from tfx.components import DistributionValidator
from tfx.dsl.components.base import executor_spec

from aet.components.drift.executor import Executor


class DriftValidator(DistributionValidator):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
