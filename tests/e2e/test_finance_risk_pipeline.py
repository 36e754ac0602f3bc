"""finance_risk end to end with the local runner, on one tuned run and the runs that go
on from it in its folder:

- the tuned run: every component runs, the search stays within its trial and wall-clock
  budget starting from the config's own values, the Trainer trains with the best
  trial's hyperparameters, and the pushed SavedModel scores raw German Credit rows and
  ships warm-up requests beside the server's models.config;
- a re-run that changes only the serving check's latency budget reuses the cached data,
  search and model, and the model, now failing the check, is not pushed over the served
  one;
- drifted data stops before training and keeps the pushed model;
- an untuned run on new data reuses the last tuned hyperparameters, warm-starts from
  the served model and unfreezes it in stages (medical_imaging and recommendation tune
  in their own e2e runs)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

from aet.components.export.server_config import read_models_config
from aet.components.export.warmup import read_warmup_file
from aet.config.contract import TABULAR_BASELINES
from aet.serving.examples import serialize_records
from tests.conftest import INFERRED_SCHEMA_COMPONENTS
from tests.e2e.conftest import (
    SMALL_SEARCH,
    SMALL_TRAINING,
    CliRun,
    assert_ready_for_tf_serving,
    assert_report_shows_the_run,
    assert_succeeded,
    assert_tuned_within_budget,
    run_aet,
    saved_model_cli_show,
    warmup_examples,
)

pytestmark = pytest.mark.e2e

# finance_risk ships a curated schema, so ImportSchemaGen stands where SchemaGen would.
COMPONENTS = INFERRED_SCHEMA_COMPONENTS - {"SchemaGen"} | {"ImportSchemaGen", "Tuner"}
REPORT_SECTIONS = {
    "overview",
    "data",
    "training",
    "evaluation",
    "explanations",
    "serving",
    "model_card",
}
TUNED_RUN = ("run", "finance_risk", "--tune", *SMALL_TRAINING, *SMALL_SEARCH)


@pytest.fixture(scope="module")
def finance_run(tmp_path_factory) -> CliRun:
    """The module's tuned finance_risk run. A copy of its folder as it left it is kept
    beside it, for the warm-start run, which goes on from the first run alone, and for
    its summary, which the later runs in its folder write over."""
    run = run_aet(*TUNED_RUN, output=tmp_path_factory.mktemp("fr"), intervals=True)
    assert_succeeded(run)
    shutil.copytree(run.output, _as_first_run(run))
    return dataclasses.replace(run, summary_file=_as_first_run(run) / "run_summary.json")


def _as_first_run(run: CliRun) -> Path:
    return run.output.parent / f"{run.output.name}-as-first-run"


def _rows(path: Path, count: int) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]


def test_every_component_executes_and_the_summary_is_written(finance_run: CliRun) -> None:
    summary = finance_run.summary
    assert summary["domain"] == "finance_risk"
    assert summary["status"] == "succeeded"
    assert summary["components"] == dict.fromkeys(COMPONENTS, "complete")
    assert summary["blessed"] is True
    overall = summary["metrics"]["overall"]
    assert {"auc", "pr_auc", "ks", "brier_score", "calibration"} <= set(overall)
    assert 0.5 < overall["auc"] <= 1.0
    # Logistic regression and boosted trees, fitted in this run's Trainer, are scored by
    # the Evaluator on the same held-out rows (German Credit is close to linear: both
    # near 0.82 on the shipped split) and printed beside the model.
    for baseline in TABULAR_BASELINES:
        assert 0.7 < overall[f"auc[{baseline}]"] <= 1.0
        assert overall[f"example_count[{baseline}]"] == overall["example_count"]
        assert f"{baseline}: accuracy=" in finance_run.stdout
    # Slices by age band and foreign worker are reported beside the overall metrics.
    assert any(name.startswith("age_band=") for name in summary["metrics"])
    assert any(name.startswith("foreign_worker=") for name in summary["metrics"])
    for line in ("[ 1/14]", "Trainer", "blessed: yes", "serving check: passed", "pushed model:"):
        assert line in finance_run.stdout


def test_the_trainer_uses_the_best_trials_hyperparameters(finance_run: CliRun) -> None:
    tuning = assert_tuned_within_budget(finance_run, "bayesian", "val_auc")
    assert 1 <= len(tuning["trials"]) <= 2
    assert set(tuning["config_values"]) >= {"embedding_dim", "num_heads", "learning_rate"}


def test_the_search_stays_off_the_terminal(finance_run: CliRun) -> None:
    assert "tuning (bayesian, val_auc):" in finance_run.stdout
    assert "trained with:" in finance_run.stdout
    assert "Search space summary" not in finance_run.stdout  # keras-tuner's tables: the log


def test_pushed_model_is_in_serving_layout_and_scores_raw_rows(
    finance_run: CliRun, finance_config, german_credit_csv: Path
) -> None:
    pushed = Path(finance_run.summary["pushed_model_dir"])
    assert pushed.parent == finance_run.output / "serving" / "finance_risk"
    assert pushed.name.isdigit() and (pushed / "saved_model.pb").is_file()

    model = tf.saved_model.load(str(pushed))
    assert {"serving_default", "transform_features"} <= set(model.signatures)
    schema = tfdv.load_schema_text(str(finance_config.resolve(finance_config.data.schema_file)))
    rows = _rows(german_credit_csv, 50)
    for row in rows:
        del row["creditability"]  # a raw applicant: no label at serving time
    scores = model.signatures["serving_default"](
        examples=tf.constant(serialize_records(rows, schema))
    )["probability"].numpy()
    assert scores.shape == (50,)
    assert np.all((scores > 0) & (scores < 1))
    assert np.unique(scores.round(6)).size > 10, "the model gives (nearly) one score to all"


def test_pushed_model_lists_its_signatures_and_ships_warmup_requests(finance_run: CliRun) -> None:
    logs = assert_ready_for_tf_serving(
        finance_run,
        {"serving_default": 2, "explain": 2, "predict_features": 2, "classification": 2},
    )
    kinds = [log.WhichOneof("log_type") for log in logs]
    assert kinds.count("predict_log") == 6 and kinds.count("classify_log") == 2
    assert logs[0].predict_log.request.model_spec.name == "finance_risk"
    assert logs[0].predict_log.request.inputs["examples"].tensor_shape.dim[0].size == 1
    shown = saved_model_cli_show(Path(finance_run.summary["pushed_model_dir"]))
    assert "Method name is: tensorflow/serving/classify" in shown


def _as_text(feature) -> str:
    kind = feature.WhichOneof("kind")
    value = getattr(feature, kind).value[0]
    return value.decode() if kind == "bytes_list" else str(value)


def test_the_warmup_requests_hold_none_of_the_applicants(
    finance_run: CliRun, finance_config, german_credit_csv: Path
) -> None:
    """Checked against all 1000 rows of the data: no warm-up record is an applicant's
    row, and none carries the label."""
    pushed = Path(finance_run.summary["pushed_model_dir"])
    logs = read_warmup_file(str(pushed / "assets.extra" / "tf_serving_warmup_requests"))
    examples = warmup_examples(logs)
    inputs = finance_config.features.input_names
    with german_credit_csv.open(newline="") as handle:
        rows = {tuple(row[name] for name in inputs) for row in csv.DictReader(handle)}
    assert len(examples) == 1 + finance_config.serving.check.warmup_examples
    for example in examples:
        features = example.features.feature
        assert set(features) == set(inputs)  # every input, no label
        assert tuple(_as_text(features[name]) for name in inputs) not in rows


def test_the_pushed_model_carries_its_card_with_the_fairness_gaps(
    finance_run: CliRun, german_credit_csv: Path
) -> None:
    """The gaps between the age bands large enough to judge; the foreign-worker groups
    cannot be compared (6 held-out examples of "no"); no path of the run or the data."""
    extras = Path(finance_run.summary["pushed_model_dir"]) / "assets.extra"
    card = json.loads((extras / "model_card.json").read_text())
    markdown = (extras / "model_card.md").read_text()
    fairness = {entry["feature"]: entry for entry in card["quantitative_analysis"]["fairness"]}
    assert set(fairness) == {"age_band", "foreign_worker"}
    ages = fairness["age_band"]
    judged = [group for group in ages["groups"] if group["judged"]]
    assert len(judged) >= 2 and set(ages["gaps"]) == {
        "auc",
        "false_positive_rate",
        "false_negative_rate",
    }
    aucs = [group["auc"] for group in judged]
    assert ages["gaps"]["auc"] == pytest.approx(max(aucs) - min(aucs))
    workers = {group["group"]: group for group in fairness["foreign_worker"]["groups"]}
    assert workers["no"]["examples"] < 30 and not workers["no"]["judged"]
    assert "### foreign_worker" in markdown and "| no (too small to judge) |" in markdown
    assert card["data"]["rows"]["test"] == card["quantitative_analysis"]["overall"]["example_count"]
    assert set(workers["no"]) == {"group", "examples", "judged"}  # no rates of 6 people
    overall = card["quantitative_analysis"]["intervals"]["overall"]
    assert overall["auc"] == finance_run.summary["metric_intervals"]["overall"]["auc"]
    assert all("auc_interval" in group for group in judged)
    text = markdown + json.dumps(card)
    assert str(finance_run.output) not in text and str(german_credit_csv) not in text


def test_the_run_explains_its_answers_in_the_summary_and_the_card(
    finance_run: CliRun, finance_config
) -> None:
    """The served `explain` signature over the held-out rows: every feature attributed,
    the attributions adding up, and the card naming the features that matter most."""
    explanations = finance_run.summary["explanations"]
    assert explanations["method"] == "integrated gradients"
    assert explanations["examples"] == finance_run.summary["metrics"]["overall"]["example_count"]
    features = explanations["features"]
    assert {f["feature"] for f in features} == set(finance_config.features.input_names)
    importance = [f["mean_abs_attribution"] for f in features]
    assert importance == sorted(importance, reverse=True) and importance[0] > 0
    assert explanations["completeness_gap"]["max"] < 0.05
    extras = Path(finance_run.summary["pushed_model_dir"]) / "assets.extra"
    card = json.loads((extras / "model_card.json").read_text())
    assert card["explanations"]["features"] == features[:10]
    assert "## What the answers rest on" in (extras / "model_card.md").read_text()


def test_the_push_writes_the_model_servers_config(finance_run: CliRun) -> None:
    serving_root = finance_run.output / "serving"
    assert finance_run.summary["server_config"] == {
        "models_config": str(serving_root / "models.config"),
        "batching_parameters": str(serving_root / "batching_parameters.txt"),
    }
    (entry,) = read_models_config(str(serving_root)).model_config_list.config
    assert (entry.name, entry.base_path) == ("finance_risk", "/models/finance_risk")
    assert entry.model_version_policy.latest.num_versions == 2
    assert "max_batch_size { value: 64 }" in (serving_root / "batching_parameters.txt").read_text()


def test_the_run_report_shows_the_run_as_its_summary_does(finance_run: CliRun) -> None:
    first = dataclasses.replace(finance_run, output=_as_first_run(finance_run), summary_file=None)
    found = assert_report_shows_the_run(first, REPORT_SECTIONS)
    numbers = found["numbers"]
    overall = first.summary["metrics"]["overall"]
    assert numbers["metrics|overall|auc"] == f"{overall['auc']:.4f}"
    for baseline in TABULAR_BASELINES:  # in the key metrics table, a column each
        label = f"auc[{baseline}]"
        assert numbers[f"metrics|overall|{label}"] == f"{overall[label]:.4f}"
    assert "metrics|foreign_worker=no|auc" not in numbers  # 6 examples: shown, not judged
    # The bootstrap's 95 % interval around each judged value, shown under it.
    intervals = first.summary["metric_intervals"]
    for slice_name, values in first.summary["metrics"].items():
        for name, (lower, upper) in intervals.get(slice_name, {}).items():
            assert lower <= values[name] <= upper, (slice_name, name)
    lower, upper = intervals["overall"]["auc"]
    assert 0.02 < upper - lower < 0.4  # 152 examples: wide, but an interval
    assert numbers["metric_intervals|overall|auc|0"] == f"{lower:.4f}"
    assert "metric_intervals|foreign_worker=no|auc|0" not in numbers
    page = (first.output / "report" / "index.html").read_text()
    assert 'foreign_worker=no <span class="warn">(too small to judge)</span>' in page
    for trial in first.summary["tuning"]["trials"]:
        assert f"<td>{trial['trial_id']}</td>" in page
    assert f"report: {finance_run.output}/report/index.html" in finance_run.stdout


@pytest.fixture(scope="module")
def rejudged_run(finance_run: CliRun) -> tuple[CliRun, dict]:
    """The tuned run again in its folder with a latency budget no model meets: (the run,
    the serving root's files as the first run left them)."""
    served = _served_files(finance_run.output / "serving")
    again = run_aet(
        *TUNED_RUN,
        "--set",
        "serving.check.latency_budget_ms=0.000001",
        output=finance_run.output,
        intervals=True,  # as the first run, whose Evaluator's output it reuses
    )
    assert_succeeded(again)  # the run worked; its model is not fit to serve
    return again, served


def test_a_change_to_the_serving_check_alone_reuses_the_data_search_and_model(
    rejudged_run, finance_run: CliRun
) -> None:
    again, _ = rejudged_run
    components = again.summary["components"]
    for name in ("CsvExampleGen", "StatisticsGen", "Transform", "Tuner", "Trainer"):
        assert components[name] == "cached", components
    assert components["ServingCheck"] == "complete"
    assert "reused from cache:" in again.stdout
    # Judged against what it would replace: the version the first run pushed.
    assert again.summary["baseline"] == {
        "source": "served",
        "path": finance_run.summary["pushed_model_dir"],
    }
    assert again.summary["metrics"]["overall"]["auc"] == pytest.approx(
        finance_run.summary["metrics"]["overall"]["auc"]
    )


def test_a_model_that_fails_the_serving_check_is_not_pushed_over_the_served_one(
    rejudged_run, finance_run: CliRun
) -> None:
    again, served = rejudged_run
    check = again.summary["serving_check"]
    assert not check["passed"] and not check["staged"]
    assert "serving.check.latency_budget_ms" in check["problems"][0]
    assert again.summary["pushed_model_dir"] is None
    assert "serving check: failed" in again.stdout and "over the budget" in again.stdout
    assert _served_files(finance_run.output / "serving") == served  # versions, models.config


def _served_files(serving_root: Path) -> dict[str, str]:
    """Every file under the serving root (versions, models.config, batching file) by its
    SHA-256."""
    return {
        str(path.relative_to(serving_root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(serving_root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def worse_model_run(finance_run: CliRun, tmp_path_factory) -> tuple[CliRun, dict[str, str]]:
    """A model trained one step, in a new output folder (no metadata, so no blessed
    model of its own) that shares the first run's serving folder: (the run, the serving
    folder's files before it)."""
    serving_root = finance_run.output / "serving"
    before = _served_files(serving_root)
    worse = run_aet(
        "run", "finance_risk", "--set", "training.train_steps=1",
        "--set", "training.steps_per_epoch=1", "--serving-dir", str(serving_root),
        output=tmp_path_factory.mktemp("worse") / "run",
    )  # fmt: skip
    assert_succeeded(worse)  # the run worked; its model is worse than the served one
    return worse, before


def test_a_worse_model_from_a_new_output_is_judged_against_the_served_one_and_not_pushed(
    worse_model_run, finance_run: CliRun
) -> None:
    worse, before = worse_model_run
    served = finance_run.summary["pushed_model_dir"]
    assert worse.summary["components"]["served_baseline"] == "complete"
    assert worse.summary["baseline"] == {"source": "served", "path": served}
    assert f"baseline: the served version {served}" in worse.stdout
    assert worse.summary["blessed"] is False
    change = [reason for reason in worse.summary["not_blessed_because"] if "change" in reason]
    assert change and change[0].startswith("auc"), worse.summary["not_blessed_because"]
    assert worse.summary["pushed_model_dir"] is None and "pushed model: none" in worse.stdout
    assert _served_files(finance_run.output / "serving") == before
    # The served model scored again on the same held-out rows: its first run's figures.
    served_auc = finance_run.summary["metrics"]["overall"]["auc"]
    assert worse.summary["baseline_metrics"]["auc"] == pytest.approx(served_auc, abs=1e-6)
    page = (worse.output / "report" / "index.html").read_text()
    assert "Why it was not blessed" in page and html.escape(change[0]) in page
    assert f'data-summary="baseline_metrics|auc">{served_auc:.4f}</td>' in page


def test_drifted_data_stops_before_training_and_keeps_the_pushed_model(
    finance_run: CliRun, german_credit_csv: Path, tmp_path: Path
) -> None:
    with german_credit_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::4]:
        row["purpose"] = "cryptocurrency"  # a category the curated schema does not know
    drifted = tmp_path / "drifted.csv"
    with drifted.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = finance_run.pushed_versions("finance_risk")

    failed = run_aet(
        "run", "finance_risk", "--data", str(drifted), *SMALL_TRAINING, output=finance_run.output
    )

    assert failed.returncode == 1
    assert "purpose" in failed.stderr and "anomalies" in failed.stderr
    assert failed.summary["status"] == "failed"
    assert failed.summary["pushed_model_dir"] is None
    assert "Trainer" not in failed.summary["components"]
    assert finance_run.pushed_versions("finance_risk") == before
    page = (finance_run.output / "report" / "index.html").read_text()
    assert 'The anomalies gate: <span class="bad">stopped the run</span>' in page
    assert '<td>purpose</td><td class="bad">' in page


def _history(summary: dict) -> dict[str, list[float]]:
    return json.loads(Path(summary["training"]["history_file"]).read_text())["history"]


@pytest.fixture(scope="module")
def warm_started_run(finance_run: CliRun, german_credit_csv: Path, tmp_path_factory) -> CliRun:
    """An untuned second run on new data (800 rows, a shifted sample) that reuses the
    last tuned hyperparameters and warm-starts, in a copy of the first run's folder (its
    metadata still points at the first run's artifacts)."""
    output = tmp_path_factory.mktemp("warm") / "run"
    shutil.copytree(_as_first_run(finance_run), output)
    lines = german_credit_csv.read_text().splitlines(keepends=True)
    new_data = output.parent / "credit.csv"
    new_data.write_text("".join([lines[0], *lines[201:]]))
    second = run_aet(
        "run",
        "finance_risk",
        *SMALL_TRAINING,
        "--data",
        str(new_data),
        "--set",
        "tuning.reuse_last=true",
        "--set",
        "training.warm_start=true",
        "--set",
        "training.warm_start_share=1",  # every epoch, so that each stage unfreezes
        output=output,
    )
    assert_succeeded(second)
    return second


def test_an_untuned_run_can_reuse_the_last_tuned_hyperparameters(
    warm_started_run: CliRun, finance_run: CliRun
) -> None:
    summary = warm_started_run.summary
    assert "Tuner" not in summary["components"]
    assert "tuning" not in summary
    hyperparameters = finance_run.summary["training"]["hyperparameters"]
    assert summary["training"]["hyperparameters"] == hyperparameters
    assert "hyperparameters (last tuned):" in warm_started_run.stdout


def test_second_run_warm_starts_from_the_served_model_and_unfreezes_in_stages(
    warm_started_run: CliRun, finance_run: CliRun
) -> None:
    summary = warm_started_run.summary
    events = summary["training"]["events"]
    warm = [e for e in events if e["callback"] == "WarmStart"]
    assert len(warm) == 1  # the weights; the epochs are not shortened at a share of 1
    # From what is served: the first run's version, copied with its folder.
    assert warm[0]["to"].startswith(str(warm_started_run.output / "tfx" / "served_baseline"))
    assert "0 started fresh" in warm[0]["why"]

    # The head, then each transformer block from the last, then the embeddings, every
    # two epochs; the search may have picked more than the config's one block.
    blocks = summary["training"]["hyperparameters"].get("num_layers", 1)
    stages = [(e["epoch"], e["from"], e["to"]) for e in events if e["what"] == "unfrozen_stage"]
    assert stages == [(2 * stage + 1, stage, stage + 1) for stage in range(blocks + 1)]
    history = _history(summary)
    assert history["unfreezing_stage"][:5] == [0, 0, 1, 1, 2]
    # It starts where the blessed model left off, not from random weights.
    assert history["val_auc"][0] > _history(finance_run.summary)["val_auc"][0] + 0.1
    assert summary["blessed"] is True
    assert len(warm_started_run.pushed_versions("finance_risk")) == 2


def test_two_runs_side_by_side(warm_started_run: CliRun, finance_run: CliRun, capsys) -> None:
    from aet.pipelines.cli import main
    from tests.browser import visit

    first = _as_first_run(finance_run)
    assert main(["report", str(first), "--compare", str(warm_started_run.output)]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page == first / "report" / f"compare-{warm_started_run.output.name}.html"
    seen = visit(page, "[...document.querySelectorAll('.columns > div')].length")
    assert seen.console_errors == [] and seen.found >= 2 * len(REPORT_SECTIONS)
    text = page.read_text()
    auc = [run.summary["metrics"]["overall"]["auc"] for run in (finance_run, warm_started_run)]
    assert f'<td>auc</td><td class="num">{auc[0]:.4f}</td><td class="num">{auc[1]:.4f}' in text
