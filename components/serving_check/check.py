"""The in-process serving check: proves a candidate model will load and answer on TF
Serving before the Pusher may push it.

TFX's InfraValidator does this by starting a real model server, which needs Docker or
Kubernetes. This check loads the SavedModel as a server does (its signatures, without
the Python classes that trained it), replays the warm-up requests it will ship with
through every client-facing signature, and checks what comes back:

- every signature answers, with the outputs the domain promises and a batch dimension
  equal to the request's;
- values in range: probabilities in [0, 1] summing to 1, classes as the config names
  them, finite scores, top-k lists no longer than `serving.top_k`;
- the JSON-friendly and Classify signatures agree with `serving_default`;
- the classification signature is marked for TF Serving's Classify API;
- `serving_default` answers one example within `serving.check.latency_budget_ms` (p99).

The component (component.py) emits the InfraBlessing the Pusher requires.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from aet.components.export.signatures import read_saved_model
from aet.components.export.warmup import build_warmup_requests, replayed
from aet.config import DomainConfig
from aet.config.contract import CLASSIFICATION, CLASSIFY_METHOD
from aet.config.kinds import kind_of

REPORT_FILE = "serving_check.json"
LATENCY_CALLS = 30
_TOLERANCE = 1e-4


@dataclass
class ServingCheckReport:
    passed: bool = False
    problems: list = field(default_factory=list)
    signatures: dict = field(default_factory=dict)  # name -> warm-up requests replayed
    interfaces: dict = field(default_factory=dict)  # name -> its method, inputs and outputs
    warmup_requests: int = 0
    latency_ms: dict = field(default_factory=dict)
    evaluator_blessed: bool = False
    staged: bool = False


def output_problems(config: DomainConfig, signature: str, outputs: dict, batch: int) -> list:
    """What is wrong with one signature's answer to a request of `batch` examples: the
    outputs the data kind promises, a batch dimension equal to the request's, finite
    numbers, then what the kind checks of the values."""
    kind = kind_of(config)
    expected = kind.expected_outputs(config, signature)
    if set(outputs) != expected:
        return [f"returned {sorted(outputs)}, expected {sorted(expected)}"]
    problems = []
    for name, values in outputs.items():
        if values.shape[:1] != (batch,):
            problems.append(f"'{name}' has shape {values.shape} for {batch} examples")
        elif values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            problems.append(f"'{name}' is not finite")
    return problems or kind.output_problems(config, signature, outputs)


def _disagreements(reference: dict, answer: dict) -> list:
    return [
        name
        for name, values in answer.items()
        if not (
            np.allclose(values, reference[name], atol=_TOLERANCE)
            if values.dtype.kind == "f"
            else np.array_equal(values, reference[name])
        )
    ]


def _tensor(info) -> str:
    """'string [?]' for a TensorInfo: dtype, then each dimension (? where any size)."""
    if info.tensor_shape.unknown_rank:
        return f"{tf.as_dtype(info.dtype).name} [unknown rank]"
    dims = ", ".join("?" if dim.size < 0 else str(dim.size) for dim in info.tensor_shape.dim)
    return f"{tf.as_dtype(info.dtype).name} [{dims}]"


def interfaces(model_dir: str) -> dict:
    """What each signature a client can call takes and returns, as saved_model_cli
    lists it (read from saved_model.pb, no graph loaded)."""
    signatures = read_saved_model(model_dir).meta_graphs[0].signature_def
    return {
        name: {
            "method": signature.method_name,
            "inputs": {key: _tensor(info) for key, info in sorted(signature.inputs.items())},
            "outputs": {key: _tensor(info) for key, info in sorted(signature.outputs.items())},
        }
        for name, signature in sorted(signatures.items())
        if not name.startswith("__")
    }


def method_name_problems(model_dir: str, signatures: set) -> list:
    """The Classify signature must say so, or TF Serving's Classify API refuses it when
    the server checks method names."""
    if CLASSIFICATION not in signatures:
        return []
    method = read_saved_model(model_dir).meta_graphs[0].signature_def[CLASSIFICATION].method_name
    if method != CLASSIFY_METHOD:
        return [f"signature '{CLASSIFICATION}' has method '{method}', not '{CLASSIFY_METHOD}'"]
    return []


def measure_latency(serve, examples: list, calls: int = LATENCY_CALLS) -> dict:
    """p50 and p99 of `calls` one-example requests to `serve`, in milliseconds."""
    timings = []
    for call in range(calls):
        example = tf.constant([examples[call % len(examples)]])
        started = time.perf_counter()
        serve(examples=example)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "p50": round(float(np.percentile(timings, 50)), 3),
        "p99": round(float(np.percentile(timings, 99)), 3),
        "calls": calls,
        "batch_size": 1,
    }


def check_model(
    model_dir: str, config: DomainConfig, examples: list
) -> tuple[ServingCheckReport, list]:
    """(report, warm-up PredictionLogs) for the SavedModel at `model_dir`, checked on
    serialized raw `examples`."""
    report = ServingCheckReport()
    if not examples:
        report.problems.append("no held-out examples to build warm-up requests from")
        return report, []
    try:
        loaded = tf.saved_model.load(model_dir)
    except Exception as exc:  # any load failure is the finding, not a crash
        report.problems.append(f"the SavedModel does not load: {_reason(exc)}")
        return report, []
    logs = build_warmup_requests(config, config.serving.model_name, examples, loaded.signatures)
    report.warmup_requests = len(logs)
    report.interfaces = interfaces(model_dir)
    report.problems += method_name_problems(model_dir, set(loaded.signatures))
    reference: dict = {}
    for request in replayed(logs):
        name = request.signature
        report.signatures[name] = report.signatures.get(name, 0) + 1
        if name not in loaded.signatures:
            report.problems.append(f"{name}: the model has no such signature")
            continue
        try:
            answer = loaded.signatures[name](**request.inputs)
        except Exception as exc:  # a signature that rejects its request fails the check
            report.problems.append(f"{name} rejected a warm-up request: {_reason(exc)}")
            continue
        outputs = {key: value.numpy() for key, value in answer.items()}
        found = output_problems(config, name, outputs, request.batch_size)
        report.problems += [f"{name}: {problem}" for problem in found]
        if found:
            continue
        comparable = kind_of(config).comparable(config, name, outputs)
        if name == "serving_default":
            reference[request.batch_size] = comparable
        elif request.batch_size in reference:
            differ = _disagreements(reference[request.batch_size], comparable)
            if differ:
                report.problems.append(f"{name}: {differ} differ from serving_default's")
    if "serving_default" in loaded.signatures and not report.problems:
        report.latency_ms = measure_latency(loaded.signatures["serving_default"], examples)
        report.latency_ms["budget"] = config.serving.check.latency_budget_ms
        if report.latency_ms["p99"] > config.serving.check.latency_budget_ms:
            report.problems.append(
                f"serving_default took {report.latency_ms['p99']} ms (p99 of "
                f"{LATENCY_CALLS} one-example requests), over the budget of "
                f"{config.serving.check.latency_budget_ms} ms (serving.check.latency_budget_ms)"
            )
    report.passed = not report.problems
    return report, logs


def _reason(exc: Exception) -> str:
    """The line of an error that says what went wrong: TF's graph errors wrap it in
    'Graph execution error', node names and stack-trace markers."""
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ")
    lines = [line.strip() for line in getattr(exc, "message", str(exc)).splitlines()]
    meaningful = [line for line in lines if line and not line.startswith(noise)]
    return (meaningful[-1] if meaningful else type(exc).__name__)[:300]


def read_report(blessing_uri: str) -> dict | None:
    path = os.path.join(blessing_uri, REPORT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)
