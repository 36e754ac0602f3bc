"""End-to-end runs of the `aet` CLI exactly as a user types it, in a subprocess each
(TFX and Beam keep process-wide logging and state), on small step budgets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

# Few steps: these tests prove the machinery, the benchmarks measure the model. Ten
# epochs of 11 steps (a few seconds) clear finance_risk's AUC >= 0.65 blessing threshold
# with a margin; two epochs did not always.
SMALL_TRAINING = ["--set", "training.train_steps=110", "--set", "training.steps_per_epoch=11"]
# A tuned run's search: two trials within a wall clock (the domains' tests add --tune).
WALL_CLOCK_S = 120
SMALL_SEARCH = [
    "--set", "tuning.max_trials=2",
    "--set", "tuning.epochs_per_trial=2",
    "--set", f"tuning.max_wall_clock_s={WALL_CLOCK_S}",
]  # fmt: skip


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    output: Path
    # Where its summary was kept, when later runs in `output` write theirs over it.
    summary_file: Path | None = None

    @property
    def summary(self) -> dict:
        return json.loads((self.summary_file or self.output / "run_summary.json").read_text())

    def pushed_versions(self, model_name: str) -> list[str]:
        """The version folders TF Serving loads, oldest first."""
        folder = self.output / "serving" / model_name
        if not folder.exists():
            return []
        return sorted(p.name for p in folder.iterdir() if p.name.isdigit())


# The Evaluator's confidence intervals recompute every metric on 20 resamples (about
# half a minute per run on these machines): only the runs whose intervals a test reads
# keep them.
NO_INTERVALS = ("--set", "evaluation.confidence_intervals=none")


def run_aet(*args: str, output: Path, timeout: float = 900, intervals: bool = False) -> CliRun:
    """`aet ARGS --output OUTPUT` in a new process; a run's Evaluator computes confidence
    intervals only with `intervals`."""
    started = time.monotonic()
    extra = NO_INTERVALS if args[:1] == ("run",) and not intervals else ()
    completed = subprocess.run(
        [sys.executable, "-m", "aet.pipelines.cli", *args, *extra, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliRun(
        completed.returncode,
        completed.stdout,
        completed.stderr,
        time.monotonic() - started,
        output,
    )


def assert_succeeded(run: CliRun) -> None:
    assert run.returncode == 0, f"aet failed:\n{run.stdout}\n{run.stderr[-3000:]}"


def saved_model_cli_show(model_dir: Path) -> str:
    """What `saved_model_cli show --all` prints for a SavedModel."""
    command = [str(Path(sys.executable).parent / "saved_model_cli"), "show", "--all", "--dir"]
    return subprocess.run(
        [*command, str(model_dir)], capture_output=True, text=True, check=True
    ).stdout


def assert_ready_for_tf_serving(run: CliRun, signatures: dict[str, int]) -> list:
    """The pushed model passed the serving check with `signatures` ({name: warm-up
    requests}) replayed, `saved_model_cli` lists them, and it ships those warm-up
    requests as PredictionLog records and its model card; returns the records."""
    from aet.components.export.warmup import read_warmup_file

    check = run.summary["serving_check"]
    assert check["passed"] and check["staged"] and check["problems"] == [], check
    assert check["signatures"] == signatures
    assert 0 < check["latency_ms"]["p99"] <= check["latency_ms"]["budget"]
    pushed = Path(run.summary["pushed_model_dir"])
    shown = saved_model_cli_show(pushed)
    for signature in signatures:
        assert f"signature_def['{signature}']" in shown
    logs = read_warmup_file(str(pushed / "assets.extra" / "tf_serving_warmup_requests"))
    assert len(logs) == check["warmup_requests"] == sum(signatures.values())
    card = json.loads((pushed / "assets.extra" / "model_card.json").read_text())
    assert card["quantitative_analysis"]["overall"] == run.summary["metrics"]["overall"]
    assert (pushed / "assets.extra" / "model_card.md").read_text().startswith("# Model card")
    return logs


def warmup_examples(logs: list) -> list[tf.train.Example]:
    """The tf.Examples of every serving_default warm-up request."""
    return [
        tf.train.Example.FromString(serialized)
        for log in logs
        if log.WhichOneof("log_type") == "predict_log"
        and log.predict_log.request.model_spec.signature_name == "serving_default"
        for serialized in log.predict_log.request.inputs["examples"].string_val
    ]


def assert_tuned_within_budget(run: CliRun, strategy: str, objective: str) -> dict:
    """The search ran within its wall clock, started from the config's values, and the
    Trainer trained with the best trial's; returns the summary's tuning section."""
    summary = run.summary
    tuning = summary["tuning"]
    assert (tuning["strategy"], tuning["objective"]) == (strategy, objective)
    took = float(re.search(r"Tuner\s+done in\s+([\d.]+) s", run.stdout).group(1))
    assert took <= WALL_CLOCK_S
    trials = tuning["trials"]
    first = min(trials, key=lambda trial: trial["trial_id"])
    assert first["hyperparameters"] == tuning["config_values"]
    best = (min if tuning["direction"] == "min" else max)(trials, key=lambda t: t["score"])
    assert summary["training"]["hyperparameters"] == best["hyperparameters"]
    assert "(the config's)" in run.stdout and "trained with:" in run.stdout
    return tuning


# What the report test reads from the rendered page: the sections, every number marked
# with its place in the summary, and whether the page is wider than a laptop screen.
REPORT_SCRIPT = """({
  sections: [...document.querySelectorAll('main > section')].map(s => s.id),
  numbers: [...document.querySelectorAll('[data-summary]')]
    .map(e => [e.dataset.summary, e.textContent.trim()]),
  wider_than_screen: document.documentElement.scrollWidth > window.innerWidth,
  figures: document.querySelectorAll('svg, img').length,
})"""


def _shown(path: str, value) -> str:
    """A summary value as the report prints it: counts whole, times as recorded,
    metrics to four decimals."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if path.endswith("example_count"):
        return str(int(value))
    if isinstance(value, float) and not path.endswith(("wall_time_s", "p50")):
        return f"{value:.4f}"
    return str(value)


def assert_report_shows_the_run(run: CliRun, sections: set[str]) -> dict:
    """The run's report opens in headless Chromium from file:// with no console error
    and no request to anything but the file itself and its inline images, fits a
    1280-pixel screen, has `sections`, and every number it marks equals the summary's.
    Returns what it read, the numbers as {summary path: text}."""
    from tests.browser import visit

    page = run.output / "report" / "index.html"
    assert page.is_file(), f"no report at {page}:\n{run.stdout}"
    seen = visit(page, REPORT_SCRIPT)
    assert seen.console_errors == []
    assert [url for url in seen.requests if not url.startswith(("file://", "data:"))] == []
    found = seen.found
    assert sections <= set(found["sections"]), found["sections"]
    assert not found["wider_than_screen"]
    summary = run.summary
    assert found["numbers"], "the report marks no number"
    for path, text in found["numbers"]:  # every marked cell: a number may be shown twice
        value = summary
        for key in path.split("|"):
            value = value[int(key)] if isinstance(value, list) else value[key]
        assert text == _shown(path, value), f"{path}: the report shows {text}, the summary {value}"
    return {**found, "numbers": dict(found["numbers"])}
