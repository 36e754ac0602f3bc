"""DistributionValidator's executor with each threshold raised to the sampling floor of
the two statistics it compares (components/drift/validation.py): TFDV's comparators
take a fixed threshold, and a fixed threshold that suits a span of 10,000 rows flags
one of 175 unchanged rows in several features by chance alone."""

from __future__ import annotations

import json
import os
from typing import Any

from tfx import types
from tfx.components.distribution_validator import executor as distribution_validator
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import standard_component_specs as keys

from aet.components.drift.validation import (
    SAMPLING_FILE,
    SPLIT_PAIR_FOLDER,
    sampling_floor,
    with_sampling_floor,
)
from aet.components.files import write_atomically


def examples_in(statistics: types.Artifact, split: str) -> int:
    """How many examples one split's statistics describe."""
    proto = stats_artifact_utils.load_statistics(statistics, split).proto()
    return int(proto.datasets[0].num_examples) if proto.datasets else 0


class Executor(distribution_validator.Executor):
    """Compares one split pair (the factory asks for one per validator)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> execution_result_pb2.ExecutorOutput:
        baseline = input_dict.get(keys.BASELINE_STATISTICS_KEY)
        if not baseline:  # the first span: TFX records that nothing was compared
            return super().Do(input_dict, output_dict, exec_properties)
        ((split, baseline_split),) = json.loads(exec_properties[keys.INCLUDE_SPLIT_PAIRS_KEY])
        rows = [
            examples_in(input_dict[keys.STATISTICS_KEY][0], split),
            examples_in(baseline[0], baseline_split),
        ]
        floor = sampling_floor(*rows)
        config = with_sampling_floor(exec_properties[keys.DISTRIBUTION_VALIDATOR_CONFIG_KEY], floor)
        result = super().Do(
            input_dict,
            output_dict,
            {**exec_properties, keys.DISTRIBUTION_VALIDATOR_CONFIG_KEY: config},
        )
        folder = os.path.join(
            output_dict[keys.ANOMALIES_KEY][0].uri, SPLIT_PAIR_FOLDER.format(split, baseline_split)
        )
        write_atomically(
            os.path.join(folder, SAMPLING_FILE),
            json.dumps({"rows": rows, "sampling_floor": round(floor, 6)}),
        )
        return result
