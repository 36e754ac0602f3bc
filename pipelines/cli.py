"""The `aet` command line: list domains, validate configs, run pipelines, score records.

Heavy imports (TensorFlow, TFX) happen inside the commands, after logging is set up,
so `aet --help` is instant and library chatter goes to a log file, not the terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 0, 1, 2, 3


class ProgressPrinter(logging.Handler):
    """Prints one line per component as the orchestrator starts and finishes it.

    The local and Beam DAG runners log 'Component X is running.' / 'node X is running.'
    and '... is finished.' through absl; this handler turns those records into progress.
    """

    _STARTED = {"Component %s is running.", "node %s is running."}
    _FINISHED = {"Component %s is finished.", "node %s is finished."}

    def __init__(self, total: int, stream=sys.stdout) -> None:
        super().__init__(logging.INFO)
        self.total = total
        self.stream = stream
        self.started: dict[str, float] = {}
        self.finished: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # A record logged with one dict argument holds the dict itself as its args.
        if not isinstance(record.args, tuple) or not record.args:
            return
        node = str(record.args[0])
        if record.msg in self._STARTED:
            self.started[node] = time.monotonic()
            self._print(f"[{len(self.started):2d}/{self.total}] {node:<32} running")
        elif record.msg in self._FINISHED:
            self.finished.append(node)
            elapsed = time.monotonic() - self.started.get(node, time.monotonic())
            self._print(f"        {node:<32} done in {elapsed:6.1f} s")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def _quiet_native_logs() -> None:
    """Silence TensorFlow's C++ start-up chatter and google-cloud's Python-version
    FutureWarnings, here and in the subprocesses TFX and Beam start (they inherit env)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)


def _fail(message: str, code: int) -> int:
    """One `aet: error:` line with the reason, then its details (if any) indented below."""
    first, _, rest = str(message).partition("\n")
    print(f"aet: error: {first}", file=sys.stderr)
    if rest:
        print(rest, file=sys.stderr)
    return code


def cmd_domains(_: argparse.Namespace) -> int:
    from aet.config import ConfigError, load_config
    from aet.pipelines.domains import shipped_domains

    for name, path in shipped_domains().items():
        try:
            description = load_config(path).description
        except ConfigError as exc:
            description = f"(invalid config: {str(exc).splitlines()[0]})"
        print(f"{name:<20} {description}")
    return EXIT_OK


def cmd_validate_config(args: argparse.Namespace) -> int:
    from aet.config import ConfigError
    from aet.pipelines.domains import load_domain

    try:
        config = load_domain(args.config, args.set)
    except ConfigError as exc:
        return _fail(f"invalid config\n{exc}", EXIT_BAD_INPUT)
    from aet.config.kinds import kind_of

    described = kind_of(config).describe(config)
    print(f"{args.config}: OK (domain '{config.name}', {described})")
    return EXIT_OK


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--beam-option '{pair}': expected NAME=VALUE")
        options[name.lstrip("-")] = value
    return options


def _default_output(domain: str) -> Path:
    """runs/<name>: the domain name, or the config's folder name when given a path."""
    path = Path(domain)
    if path.suffix in {".yaml", ".yml"}:
        path = path.parent
    return Path("runs") / path.name


def _compile_kubeflow(config, args: argparse.Namespace, output: Path, beam_args: list[str]) -> int:
    from aet.pipelines.runners import compile_kubeflow, kubeflow_pipeline

    pipeline = kubeflow_pipeline(
        config,
        pipeline_root=args.pipeline_root or str(output),
        data_path=args.data,
        beam_pipeline_args=beam_args,
        enable_cache=not args.no_cache,
    )
    path = compile_kubeflow(pipeline, str(output), args.image)
    print(f"aet run {config.name}: wrote Kubeflow Pipelines v2 spec {path} (image {args.image})")
    print("  nothing was run: upload the spec to KFP v2 or Vertex AI Pipelines")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Runs the pipeline holding its output folder's lock: a second run on the same
    folder stops at once instead of sharing its metadata, resume checkpoints and
    ingestion with this one."""
    from aet.components.files import FolderLock, FolderLocked

    output = Path(args.output or _default_output(args.domain)).resolve()
    try:
        lock = FolderLock(output, "--output").acquire()
    except FolderLocked as exc:
        return _fail(f"nothing run: {exc}", EXIT_BUSY)
    try:
        return _run(args, output)
    finally:
        lock.release()


def _run(args: argparse.Namespace, output: Path) -> int:
    from aet.pipelines.logs import Redactor, route_library_logs
    from aet.pipelines.runners import secret_values

    log_file = output / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    redact = Redactor(secret_values([*(f"--{o}" for o in args.beam_option), *args.beam_arg]))
    route_library_logs(log_file, redact)

    from aet.config import ConfigError
    from aet.pipelines.data_sources import DataSourceError
    from aet.pipelines.domains import load_domain
    from aet.pipelines.runners import RunnerError, beam_pipeline_args
    from aet.pipelines.spans import SpanError

    # ValueError also covers each data kind's pre-flight and ingestion errors.
    bad_input = (ConfigError, DataSourceError, RunnerError, SpanError, ValueError)
    try:
        overrides = [*args.set, *(["tuning.enabled=true"] if args.tune else [])]
        config = load_domain(args.domain, overrides, default_data=args.data is None)
        beam_args = beam_pipeline_args(
            args.beam_preset, _parse_options(args.beam_option), args.beam_arg
        )
        if args.runner == "kubeflow":
            return _compile_kubeflow(config, args, output, beam_args)
        spans = _spans_to_run(args.data, args.spans, output)
        serving_requests = _serving_requests(args.serving_requests)
    except bad_input as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    if not spans:
        print(
            f"aet run {config.name}: every span of {args.data} has run in {output}; nothing to do"
        )
        return EXIT_OK
    from aet.pipelines.spans import DRIFT_STOPPED, span_line

    ran = []
    code = EXIT_OK
    for number, data in spans:
        code, entry = _run_span(
            args, output, config, beam_args, data, number, log_file, redact, serving_requests
        )
        if entry is not None:
            ran.append(span_line(entry))
        # A span the drift policy stopped is done with; the next one still runs.
        if code != EXIT_OK and (entry is None or entry["status"] != DRIFT_STOPPED):
            break
    if len(ran) > 1:
        print("\nspans:")
        for line in ran:
            print(f"  {line}")
    return code


def _spans_to_run(
    data: str | None, which: str, output: Path
) -> list[tuple[int | None, str | None]]:
    """(span number, data path) for each pipeline run: the spans of a folder of spans
    (those not run in `output` yet, or only the newest, or all), else the one data path
    (None: the config's default data), numbered when it is staged."""
    from aet.components.files import is_remote
    from aet.pipelines.spans import SpanError, span_history, user_spans

    found = user_spans(Path(data)) if data and not is_remote(data) else []
    if not found:
        if which != "new":
            raise SpanError(
                f"--spans {which}: --data {data or '(the default)'} is not a folder of "
                "span-NN folders"
            )
        return [(None, data)]
    if which == "newest":
        found = found[-1:]
    elif which == "new":
        done = [entry["span"] for entry in span_history(output) if entry["status"] != "failed"]
        found = [(number, path) for number, path in found if number > max(done, default=0)]
    return [(number, str(path)) for number, path in found]


def _run_span(
    args: argparse.Namespace,
    output: Path,
    config,
    beam_args: list[str],
    data: str | None,
    number: int | None,
    log_file: Path,
    redact,
    serving_requests: str | None,
) -> tuple[int, dict | None]:
    """One pipeline run on one span: the exit code, and the span's entry in the output's
    span history (None for data read in place, or refused before any run)."""
    from aet.components.files import is_remote
    from aet.pipelines.data_sources import DataSourceError, resolve_data_path
    from aet.pipelines.spans import (
        SpanError,
        newest_span_run,
        served_span,
        span_history,
        stage_span,
    )

    try:
        data_path = resolve_data_path(config, data)
        print(f"aet run {config.name}: runner={args.runner} data={data_path}")
        input_lines, pipeline_input, ingestion = _prepare_input(
            config, data_path, output, beam_args
        )
        span = None
        if not is_remote(pipeline_input):
            span = stage_span(output, data_path, pipeline_input, number)
    except (DataSourceError, SpanError, ValueError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT), None

    from aet.pipelines.factory import create_pipeline, run_layout

    for line in input_lines:
        print(f"  {line}")
    if span is not None:
        print(f"  span {span.number} (window: {config.data.window})")
    from aet.pipelines.frozen_schema import freeze_schema, frozen_schema

    schema = frozen_schema(output, config)
    if schema:
        print(f"  schema: {schema} (frozen from the first pushed run)")
    note = config.data.default_note if data is None else ""
    if note:
        print(f"  note: {note}")
    print(f"  output: {output}  (log: {log_file})")
    # A new span comes after the spans this output ran; the first span starts afresh.
    history = span_history(output)
    newest_run = newest_span_run(history)
    layout = run_layout(output, config, _serving_root(args.serving_dir))
    pipeline = create_pipeline(
        config,
        data_path=pipeline_input,
        beam_pipeline_args=beam_args,
        enable_cache=not args.no_cache,
        default_data=data is None,
        span=span,
        new_span=span is not None and newest_run is not None and span.number > newest_run,
        served_span=served_span(history),
        serving_requests=serving_requests,
        schema_path=schema,
        **layout,
    )
    progress = ProgressPrinter(total=len(pipeline.components))
    logging.getLogger().addHandler(progress)

    from aet.pipelines.runners import run_beam, run_local
    from aet.pipelines.summary import collect_summary, publish_heat_maps, write_summary

    started = time.monotonic()
    error = None
    try:
        (run_beam if args.runner == "beam" else run_local)(pipeline)
    except Exception as exc:  # the orchestrator re-raises the failing component's error
        logging.exception("pipeline failed")
        error = redact(f"{type(exc).__name__}: {exc}")
    finally:
        logging.getLogger().removeHandler(progress)
    summary = collect_summary(config, layout["metadata_path"])
    summary.update(
        runner=args.runner,
        data=data_path,
        data_note=note or None,
        wall_time_s=round(time.monotonic() - started, 1),
        status="failed" if error else "succeeded",
        error=error,
        log_file=str(log_file),
    )
    if ingestion is not None:  # a plug-in kind ingested before the pipeline (an ingesting
        # ExampleGen, images' or interaction logs', writes its own report into its Examples)
        summary["ingestion"] = ingestion
    if span is not None:
        summary["span"] = span.number
    publish_heat_maps(summary, str(output))
    summary_path = write_summary(summary, str(output))
    entry = None
    if span is not None:  # in the history before the report, which shows it
        from aet.pipelines.spans import record_span_run, span_entry

        entry = span_entry(config, summary)
        record_span_run(output, entry)
        if summary["pushed_model_dir"]:
            frozen = freeze_schema(output, config, summary.get("schema_dir"), span.number)
            if frozen:
                print(f"  schema frozen for later spans: {frozen}")
    if ingestion is None and summary.get("ingestion"):  # ingested by the pipeline
        from aet.config.kinds import kind_of

        for line in kind_of(config).ingestion_lines(summary["ingestion"]):
            print(line)
    _print_summary(summary, summary_path)
    _report(output)
    if error:
        # The summary holds what the metadata recorded: a push before the failure stands.
        pushed = summary["pushed_model_dir"]
        outcome = f"after pushing {pushed} (now served)" if pushed else "nothing pushed"
        hint = failure_hint(summary)
        code = _fail(
            f"pipeline failed, {outcome}: {error}" + (f"\n  {hint}" if hint else ""), EXIT_FAILED
        )
        return code, entry
    return EXIT_OK, entry


def _serving_requests(folder: str | None) -> str | None:
    """--serving-requests as an absolute path: a folder of logged requests."""
    from aet.components.files import is_remote
    from aet.serving.request_log import LOG_PATTERN

    if not folder or is_remote(folder):
        return folder
    path = Path(folder).resolve()
    if not any(path.glob(LOG_PATTERN)):
        raise ValueError(
            f"--serving-requests {folder}: no {LOG_PATTERN} files there (`aet predict "
            "--log-requests` writes them)"
        )
    return str(path)


def _serving_root(serving_dir: str | None) -> str | None:
    """--serving-dir as given for an object store (gs://...), else as an absolute path."""
    from aet.components.files import is_remote

    if not serving_dir or is_remote(serving_dir):
        return serving_dir
    return str(Path(serving_dir).resolve())


def _report(output: Path) -> None:
    """Writes the run's HTML report; a report that cannot be written is a warning, not
    a failed run (the models and the summary are what the run is for)."""
    from aet.report.render import write_report

    started = time.monotonic()
    try:
        path = write_report(output)
    except Exception as exc:
        logging.exception("the run report could not be written")
        print(f"  report: not written ({type(exc).__name__}: {exc})")
        return
    print(f"  report: {path}  ({time.monotonic() - started:.1f} s)")


def cmd_report(args: argparse.Namespace) -> int:
    from aet.report.render import write_report
    from aet.report.run_record import RunNotFound

    try:
        path = write_report(args.run_dir, compare=args.compare)
    except RunNotFound as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    print(path)
    return EXIT_OK


def failure_hint(summary: dict) -> str | None:
    """What to try when a run failed where a known cause is likely: an Evaluator that
    failed while judging against a served version, which may take other features or
    another label than this config gives (trained from another config)."""
    evaluator = summary["components"].get("Evaluator")
    baseline = summary.get("baseline") or {}
    if evaluator in ("failed", "running") and baseline.get("source") == "served":
        return (
            f"the Evaluator failed while scoring the served version {baseline['path']} "
            "beside the new model: if that version was trained from another config (other "
            "features or label), it cannot score this data; `--set evaluation.baseline=none` "
            "judges the new model by its thresholds alone and lets it replace what is served"
        )
    return None


def _prepare_input(
    config, data_path: str, output: Path, beam_args: list[str]
) -> tuple[list[str], str, dict | None]:
    """The data kind's pre-flight check or ingestion (a Beam job) before any component:
    the lines to print, the path the pipeline reads, and the ingestion report, if any."""
    from aet.config.kinds import kind_of

    prepared = kind_of(config).prepare_input(config, data_path, output, beam_args)
    return prepared.lines, prepared.pipeline_input, prepared.report


def metric_lines(overall: dict[str, float]) -> list[str]:
    """The held-out metrics, one line per model or class: a recommender's baselines
    ('ndcg[most_popular]') and a class's one-vs-rest figures ('auc[class=x]') each get
    their own line after the model's."""
    from aet.config.metrics import split_label

    groups: dict[str, list[str]] = {}
    for label, value in overall.items():
        name, group = split_label(label)
        groups.setdefault(group, []).append(f"{name}={value:.4f}")
    return [
        f"{group or 'model'}: {', '.join(values)}"
        for group, values in sorted(groups.items(), key=lambda item: item[0] != "")
    ]


def _print_summary(summary: dict, path: str) -> None:
    cached = [name for name, state in summary["components"].items() if state == "cached"]
    print(f"\n{summary['domain']}: {summary['status']} in {summary['wall_time_s']} s")
    if cached:
        print(f"  reused from cache: {', '.join(cached)}")
    print(f"  blessed: {'yes' if summary['blessed'] else 'no'}")
    for reason in summary.get("not_blessed_because", []):
        print(f"    {reason}")
    if summary["metrics"]:
        print(f"  {baseline_line(summary.get('baseline'))}")
    for line in serving_check_lines(summary.get("serving_check")):
        print(f"  {line}")
    for line in distribution_lines(summary):
        print(f"  {line}")
    lines = metric_lines(summary["metrics"].get("overall", {}))
    if lines:
        print("  metrics (held-out split):")
        for line in lines:
            print(f"    {line}")
    for line in tuning_lines(summary.get("tuning"), summary.get("training")):
        print(f"  {line}")
    for line in training_lines(summary.get("training")):
        print(f"  {line}")
    if summary.get("heat_maps"):
        print(f"  heat maps: {summary['heat_maps']['dir']}")
    if summary.get("data_note"):
        print(f"  note: {summary['data_note']}")
    print(f"  pushed model: {summary['pushed_model_dir'] or 'none'}")
    if summary.get("not_pushed_because"):
        print(f"    {summary['not_pushed_because']}")
    print(f"  summary: {path}")


def baseline_line(baseline: dict | None) -> str:
    """What the Evaluator judged the new model against."""
    if baseline is None:
        return "baseline: none (nothing served or blessed yet: judged by its thresholds alone)"
    if baseline["source"] == "none":
        return (
            "baseline: none (evaluation.baseline: none): judged by its thresholds alone, "
            "and if blessed it replaces what is served"
        )
    if baseline["source"] == "served":
        return f"baseline: the served version {baseline['path']}"
    return f"baseline: the latest blessed model, {baseline['path']}"


def distribution_lines(summary: dict) -> list[str]:
    """Drift of the span from the one before it, and skew of the logged requests from
    the training data: the features past their thresholds, or none."""
    lines = []
    for key, what in (
        ("drift", "drift from span {against_span}"),
        ("drift_from_training", "drift from span {against_span} (the served model's data)"),
        ("skew", "serving skew"),
    ):
        found = summary.get(key)
        if found is None:
            continue
        name = what.format(**found)
        moved = ", ".join(found["drifted"]) or "none"
        compared = f"{len(found['features'])} features compared"
        if "rows" in found:
            compared += (
                f", {found['rows'][0]} and {found['rows'][1]} rows: no threshold below "
                f"{found['sampling_floor']:.3f}"
            )
        lines.append(f"{name}: {moved} ({compared})")
    return lines


def serving_check_lines(check: dict | None) -> list[str]:
    """Whether the model answers as TF Serving will call it, and if not, why."""
    if check is None:
        return []
    if check["passed"]:
        latency = check["latency_ms"]
        return [
            f"serving check: passed ({check['warmup_requests']} warm-up requests replayed; "
            f"p99 {latency['p99']} ms for one example, budget {latency['budget']} ms)"
        ]
    return ["serving check: failed", *(f"  {problem}" for problem in check["problems"])]


def tuning_lines(tuning: dict | None, training: dict | None) -> list[str]:
    """What the search tried and what the Trainer then used."""
    used = (training or {}).get("hyperparameters")
    if not tuning:
        return [f"hyperparameters (last tuned): {_compact(used)}"] if used else []
    trials = tuning["trials"]
    lines = [
        f"tuning ({tuning['strategy']}, {tuning['objective']}): {len(trials)} trials completed"
    ]
    for trial in trials:
        values = trial["hyperparameters"]
        mark = " (the config's)" if values == tuning["config_values"] else ""
        lines.append(
            f"  trial {trial['trial_id']}: {trial['score']:.4f} in <={trial['max_epochs']} epochs,"
            f" {_compact(values)}{mark}"
        )
    if used:
        lines.append(f"  trained with: {_compact(used)}")
    return lines


def _compact(values: dict) -> str:
    return ", ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in sorted(values.items())
    )


def training_lines(training: dict | None) -> list[str]:
    """How training went, in a line or three: epochs, what the elastic callbacks did,
    and where a warm start or a resume came from."""
    if not training:
        return []
    counts = Counter(f"{event['callback']}.{event['what']}" for event in training["events"])
    changes = ", ".join(f"{name} x{count}" for name, count in sorted(counts.items()))
    lines = [f"training: {training['epochs_run']} epochs; events: {changes or 'none'}"]
    for event in training["events"]:
        if event["callback"] != "WarmStart":
            continue
        if event["what"] == "epochs":
            lines.append(f"warm start: {event['to']} of {event['from']} epochs ({event['why']})")
        else:
            lines.append(f"warm-started from {event['to']}: {event['why']}")
    if training.get("resumed_from"):
        lines.append(f"resumed from checkpoint {training['resumed_from']}")
    return lines


def _jsonable(value: object) -> object:
    """A numpy output value as plain JSON: arrays as lists, bytes as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def prediction_lines(ids: list, outputs: dict) -> list[str]:
    """One JSON line per input record: its id, then each output's value for it."""
    names = sorted(outputs)
    return [
        json.dumps({"id": record_id, **{name: _jsonable(outputs[name][row]) for name in names}})
        for row, record_id in enumerate(ids)
    ]


def _read_tls_ca(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"--tls-ca {path}: {exc.strerror}") from exc


def cmd_predict(args: argparse.Namespace) -> int:
    from aet.config import ConfigError
    from aet.config.contract import EXPLANATION
    from aet.config.kinds import kind_of
    from aet.pipelines.domains import load_domain
    from aet.serving.client import MAX_RESPONSE_BYTES, ServingClient
    from aet.serving.errors import ServingError
    from aet.serving.request_log import RequestLog
    from aet.serving.requests import RequestError, read_input

    try:
        config = load_domain(args.domain)
        request = read_input(config, args.input)
        client = ServingClient(
            args.server,
            args.model_name or config.serving.model_name,
            version=args.version,
            version_label=args.version_label,
            timeout_s=args.timeout,
            deadline_s=args.deadline,
            retries=args.retries,
            batch_size=args.batch_size,
            max_response_bytes=(
                MAX_RESPONSE_BYTES if args.max_response_bytes is None else args.max_response_bytes
            ),
            root_certificates=_read_tls_ca(args.tls_ca),
            request_log=RequestLog(args.log_requests, args.log_sample)
            if args.log_requests
            else None,
        )
    except (ConfigError, RequestError, ValueError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    signature = EXPLANATION if args.explain else args.signature
    with client:
        try:
            outputs = client.predict_examples(request.examples, signature)
        except ServingError as exc:
            return _fail(str(exc), EXIT_FAILED)
    if not args.explain:
        for line in prediction_lines(request.ids, outputs):
            print(line)
        return EXIT_OK
    explained = kind_of(config).explained(config, request, outputs, Path(args.explanations_dir))
    for record_id, record in zip(request.ids, explained, strict=True):
        print(json.dumps({"id": record_id, **record}))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from aet.pipelines.runners import BEAM_PRESETS, DEFAULT_IMAGE, RUNNERS

    parser = argparse.ArgumentParser(prog="aet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("domains", help="list the shipped domains").set_defaults(func=cmd_domains)

    validate = commands.add_parser("validate-config", help="check a domain config file")
    validate.add_argument("config", help="path of a config.yaml, or a shipped domain name")
    validate.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    validate.set_defaults(func=cmd_validate_config)

    run = commands.add_parser("run", help="run (or compile) a domain's pipeline")
    run.add_argument("domain", help="a shipped domain name, or the path of a config.yaml")
    run.add_argument("--runner", choices=RUNNERS, default="local")
    run.add_argument(
        "--data",
        help="CSV file or folder of CSV files; for image domains an image folder or a "
        "MedMNIST .npz (default: the config's)",
    )
    run.add_argument(
        "--spans",
        choices=("new", "newest", "all"),
        default="new",
        help="when --data is a folder of span-NN folders: run the spans this output has not "
        "run yet, in order (new), only the newest, or all of them",
    )
    run.add_argument(
        "--serving-requests",
        metavar="DIR",
        help="requests a client logged (`aet predict --log-requests DIR`): the run compares "
        "their statistics with the training data's and reports serving skew",
    )
    run.add_argument("--output", help="run folder (default: runs/<domain>)")
    run.add_argument(
        "--serving-dir",
        help="push to <serving-dir>/<model name>/ (default: <output>/serving); domains that "
        "share one are listed in one models.config",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field, e.g. --set training.train_steps=50",
    )
    run.add_argument(
        "--tune",
        action="store_true",
        help="search the config's tuning.search_space (keras-tuner) before training",
    )
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    presets = "; ".join(f"{name}: {preset.description}" for name, preset in BEAM_PRESETS.items())
    run.add_argument(
        "--beam-preset", choices=sorted(BEAM_PRESETS), default="in-process", help=presets
    )
    run.add_argument(
        "--beam-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="complete or change a preset, e.g. direct_num_workers=4 or flink_master=host:8081",
    )
    run.add_argument("--beam-arg", action="append", default=[], help="a raw Beam pipeline argument")
    run.add_argument("--image", default=DEFAULT_IMAGE, help="container image for Kubeflow")
    run.add_argument(
        "--pipeline-root", help="Kubeflow: artifact root the cluster can reach (gs://...)"
    )
    run.set_defaults(func=cmd_run)

    report = commands.add_parser(
        "report",
        help="rebuild a run's HTML report (<run>/report/index.html)",
        description="Writes RUN_DIR/report/index.html from what the run left (its summary, "
        "history, statistics and anomalies); with --compare, RUN_DIR/report/compare-<other>."
        "html with both runs side by side. One file, no network needed to open it.",
    )
    report.add_argument("run_dir", help="an `aet run --output` folder")
    report.add_argument("--compare", metavar="OTHER_RUN_DIR", help="a second run to set beside")
    report.set_defaults(func=cmd_report)

    predict = commands.add_parser(
        "predict",
        help="score records with a served model (TF Serving over REST or gRPC)",
        description="Sends every record of --input to the model's serving_default signature "
        "(with --explain, its explain signature) and prints one JSON line per record: its id "
        "(line number or image path) and the outputs (or the answer and why). Exit 2: bad "
        "input, nothing sent; exit 1: the server failed or was unreachable.",
    )
    predict.add_argument("domain", help="a shipped domain name, or the path of a config.yaml")
    predict.add_argument(
        "--server",
        required=True,
        help="http(s)://HOST:PORT (REST), grpc://HOST:PORT or grpcs://HOST:PORT (gRPC over TLS)",
    )
    predict.add_argument(
        "--input",
        required=True,
        help="CSV or JSON-lines file of records (recommendation: JSON lines of "
        '{"history": [...], "exclude": [...]}); image domains: an image file or folder',
    )
    predict.add_argument("--model-name", help="default: the config's serving.model_name")
    version = predict.add_mutually_exclusive_group()
    version.add_argument("--version", type=int, help="a model version (default: the latest)")
    version.add_argument("--version-label", help="a version label, e.g. stable")
    signature = predict.add_mutually_exclusive_group()
    signature.add_argument("--signature", default="serving_default")
    signature.add_argument(
        "--explain",
        action="store_true",
        help="ask the `explain` signature and print why: tabular reason codes (the features "
        "that raised and lowered the probability, with the record's values), image heat-map "
        "overlays (PNG files), recommenders' history items behind each recommendation",
    )
    predict.add_argument(
        "--explanations-dir",
        default="explanations",
        help="where --explain writes image heat-map overlays (default: ./explanations)",
    )
    predict.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    predict.add_argument(
        "--deadline",
        type=float,
        help="seconds for the whole call, every batch and retry included (default: none)",
    )
    predict.add_argument(
        "--max-response-bytes",
        type=int,
        help="largest answer accepted, in bytes (default: 256 MiB)",
    )
    predict.add_argument(
        "--retries", type=int, default=3, help="retries of transient failures (503, timeouts)"
    )
    predict.add_argument("--batch-size", type=int, default=64, help="records per request")
    predict.add_argument("--tls-ca", metavar="FILE", help="PEM root certificates to trust")
    predict.add_argument(
        "--log-requests",
        metavar="DIR",
        help="keep the examples answered as TFRecords in DIR, for `aet run "
        "--serving-requests DIR` to check for serving skew (they hold the records' values)",
    )
    predict.add_argument(
        "--log-sample",
        type=float,
        default=1.0,
        help="share of the examples --log-requests keeps (default: all)",
    )
    predict.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_native_logs()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
