"""The `aet` command line where no pipeline runs: listing domains, validating configs,
and `aet run` refusing bad input (exit 2) before anything is built or written."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from aet.pipelines.cli import (
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    baseline_line,
    failure_hint,
    main,
    metric_lines,
    serving_check_lines,
    training_lines,
    tuning_lines,
)
from aet.pipelines.domains import load_domain
from tests.components.test_files import start_holding


def _bad_config(finance_raw: dict, write_config) -> Path:
    finance_raw["training"]["batch_size"] = "sixty"
    return write_config(finance_raw)


def test_domains_lists_each_shipped_domain_with_its_description(capsys) -> None:
    assert main(["domains"]) == EXIT_OK

    lines = capsys.readouterr().out.splitlines()
    finance = [line for line in lines if line.split()[0] == "finance_risk"]
    assert len(finance) == 1
    assert finance[0].endswith(load_domain("finance_risk").description)


def test_domains_marks_an_invalid_shipped_config(
    capsys, monkeypatch, tmp_path: Path, finance_config_path: Path
) -> None:
    import aet.pipelines.domains

    shutil.copytree(finance_config_path.parent, tmp_path / "finance_risk")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("name: broken\n")
    (tmp_path / "not_a_domain").mkdir()
    monkeypatch.setattr(aet.pipelines.domains, "SHIPPED_DOMAINS_DIR", tmp_path)

    assert main(["domains"]) == EXIT_OK

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["broken", "finance_risk"]
    assert "(invalid config:" in lines[0]
    assert "(invalid config" not in lines[1]


def test_validate_config_accepts_the_shipped_domain(capsys) -> None:
    assert main(["validate-config", "finance_risk"]) == EXIT_OK

    out = capsys.readouterr().out
    config = load_domain("finance_risk")
    assert "OK" in out
    assert f"'{config.name}'" in out
    assert f"label '{config.features.label.name}'" in out


def test_validate_config_accepts_a_config_only_domain(capsys, penguins_config_path: Path):
    assert main(["validate-config", str(penguins_config_path)]) == EXIT_OK
    assert "domain 'penguins'" in capsys.readouterr().out


def test_validate_config_rejects_a_bad_field(capsys, finance_raw: dict, write_config) -> None:
    path = _bad_config(finance_raw, write_config)

    assert main(["validate-config", str(path)]) == EXIT_BAD_INPUT

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "aet: error: invalid config" in captured.err
    assert str(path.resolve()) in captured.err
    assert "'training.batch_size'" in captured.err
    assert "not a valid integer" in captured.err


def test_validate_config_rejects_a_bad_override(capsys) -> None:
    code = main(["validate-config", "finance_risk", "--set", "model.num_heads=5"])

    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "'model.embedding_dim'" in err
    assert "divisible" in err


def test_validate_config_rejects_a_missing_file(capsys, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    assert main(["validate-config", str(path)]) == EXIT_BAD_INPUT
    assert f"{path}: no such config file" in capsys.readouterr().err


@pytest.fixture
def bad_csv(tmp_path: Path, german_credit_csv: Path) -> Path:
    """The first 20 German Credit rows, with a word where row 7's credit_amount should be."""
    with german_credit_csv.open(newline="") as handle:
        rows = [row for _, row in zip(range(21), csv.reader(handle), strict=False)]
    rows[7][rows[0].index("credit_amount")] = "plenty"
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_run_with_a_bad_csv_fails_fast_naming_the_row(
    capsys, bad_csv: Path, tmp_path: Path, isolated_logging
) -> None:
    output = tmp_path / "run"
    started = time.monotonic()

    code = main(["run", "finance_risk", "--data", str(bad_csv), "--output", str(output)])

    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "aet: error: input data does not match domain 'finance_risk'" in err
    assert f"{bad_csv}:8: column 'credit_amount': 'plenty' is not a finite number" in err
    assert seconds < 60  # a pipeline run takes minutes; this stops before building one
    assert not (output / "serving").exists()
    assert not (output / "tfx").exists()
    assert not (output / "metadata.sqlite").exists()
    assert not (output / "run_summary.json").exists()


def test_a_run_on_a_folder_another_run_is_using_stops_at_once_naming_it(
    capsys, tmp_path: Path, isolated_logging
) -> None:
    output = tmp_path / "run"
    other = start_holding(output)
    try:
        started = time.monotonic()
        code = main(["run", "finance_risk", "--output", str(output)])
        seconds = time.monotonic() - started
    finally:
        other.kill()
        other.wait()
    err = capsys.readouterr().err
    assert code == EXIT_BUSY
    assert f"aet: error: nothing run: {output} is in use by another aet process" in err
    assert f"pid {other.pid}" in err
    assert seconds < 5
    assert sorted(p.name for p in output.iterdir()) == [".aet.lock"]  # not even a log


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--data", "{tmp}/absent.csv"], "--data: no such file or folder: {tmp}/absent.csv"),
        (["--beam-preset", "flink"], "--beam-option flink_master="),
        (["--beam-option", "direct_num_workers"], "expected NAME=VALUE"),
        (["--spans", "newest"], "--data (the default) is not a folder of span-NN folders"),
        (["--serving-requests", "{tmp}"], "no requests-*.tfrecord files there"),
        (["--set", "training.bach_size=3"], "'training.bach_size'"),
        (
            ["--tune", "--set", "tuning.search_space={depth: {choices: [1, 2]}}"],
            "field 'tuning.search_space.depth': cannot be tuned",
        ),
    ],
)
def test_run_rejects_bad_input_before_building_a_pipeline(
    capsys, tmp_path: Path, isolated_logging, arguments: list[str], expected: str
) -> None:
    output = tmp_path / "run"
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]

    code = main(["run", "finance_risk", *arguments, "--output", str(output)])

    assert code == EXIT_BAD_INPUT
    assert expected.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err
    assert not (output / "tfx").exists()
    assert not (output / "serving").exists()


def test_run_rejects_an_unknown_domain(capsys, tmp_path: Path, isolated_logging) -> None:
    code = main(["run", "no_such_domain", "--output", str(tmp_path / "run")])

    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "unknown domain 'no_such_domain'" in err
    assert "finance_risk" in err


def test_a_failure_after_the_push_says_which_version_is_served(
    capsys, tmp_path: Path, monkeypatch, isolated_logging
) -> None:
    import aet.pipelines.runners
    import aet.pipelines.summary

    output = tmp_path / "run"
    pushed = str(output / "serving" / "finance_risk" / "1700000000")

    def fails_after_the_push(pipeline) -> None:
        raise OSError("models.config: No space left on device")

    def recorded(config, metadata_path: str) -> dict:
        summary = {"domain": config.name, "blessed": True, "metrics": {}, "components": {}}
        return {**summary, "pushed_model_dir": pushed, "component_seconds": {}}

    monkeypatch.setattr(aet.pipelines.runners, "run_local", fails_after_the_push)
    monkeypatch.setattr(aet.pipelines.summary, "collect_summary", recorded)
    code = main(["run", "finance_risk", "--output", str(output)])

    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert f"aet: error: pipeline failed, after pushing {pushed} (now served): OSError" in err
    assert "nothing pushed" not in err
    summary = json.loads((output / "run_summary.json").read_text())
    assert summary["status"] == "failed" and summary["pushed_model_dir"] == pushed


def test_an_evaluator_failing_on_a_served_baseline_points_to_the_way_out() -> None:
    served = {"source": "served", "path": "/serving/finance_risk/7"}
    failed = {"components": {"Trainer": "complete", "Evaluator": "failed"}, "baseline": served}
    hint = failure_hint(failed)
    assert "/serving/finance_risk/7" in hint and "--set evaluation.baseline=none" in hint
    assert failure_hint({**failed, "baseline": {"source": "blessed", "path": "m"}}) is None
    assert failure_hint({**failed, "components": {"Trainer": "failed"}}) is None
    assert "thresholds alone" in baseline_line({"source": "none"})


def test_unknown_runner_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "finance_risk", "--runner", "airflow"])
    assert caught.value.code == 2
    assert "airflow" in capsys.readouterr().err


def test_training_lines_say_what_the_elastic_callbacks_did() -> None:
    def event(callback: str, what: str, to: object = 0.5, why: str = "") -> dict:
        return {
            "epoch": 0,
            "step": 0,
            "callback": callback,
            "what": what,
            "from": None,
            "to": to,
            "why": why,
        }

    training = {
        "epochs_run": 12,
        "events": [
            event("WarmStart", "weights", "tfx/Trainer/model/8/Format-Serving", "5 layers copied"),
            event("ElasticLearningRate", "learning_rate"),
            event("ElasticLearningRate", "learning_rate"),
            event("ProgressiveUnfreezing", "unfrozen_stage", 1),
        ],
        "resumed_from": "tfx/resume/ab12/epoch-000007",
    }
    assert training_lines(training) == [
        "training: 12 epochs; events: ElasticLearningRate.learning_rate x2, "
        "ProgressiveUnfreezing.unfrozen_stage x1, WarmStart.weights x1",
        "warm-started from tfx/Trainer/model/8/Format-Serving: 5 layers copied",
        "resumed from checkpoint tfx/resume/ab12/epoch-000007",
    ]
    assert training_lines({"epochs_run": 3, "events": []}) == ["training: 3 epochs; events: none"]
    assert training_lines(None) == []


def test_metric_lines_put_the_model_first_then_each_baseline_or_class() -> None:
    overall = {
        "coverage": 0.2,
        "coverage[most_popular]": 0.05,
        "ndcg": 0.11,
        "ndcg[co_occurrence]": 0.09,
        "ndcg[most_popular]": 0.04,
    }
    assert metric_lines(overall) == [
        "model: coverage=0.2000, ndcg=0.1100",
        "most_popular: coverage=0.0500, ndcg=0.0400",
        "co_occurrence: ndcg=0.0900",
    ]
    assert metric_lines({"auc[class=Adelie]": 0.9, "accuracy": 0.8}) == [
        "model: accuracy=0.8000",
        "class=Adelie: auc=0.9000",
    ]


def test_serving_check_lines_say_it_passed_or_why_it_failed() -> None:
    passed = {
        "passed": True,
        "problems": [],
        "warmup_requests": 6,
        "latency_ms": {"p50": 1.2, "p99": 1.6, "budget": 250.0},
    }
    assert serving_check_lines(passed) == [
        "serving check: passed (6 warm-up requests replayed; p99 1.6 ms for one example, "
        "budget 250.0 ms)"
    ]
    failed = {
        "passed": False,
        "problems": ["serving_default rejected a warm-up request: no_such_feature"],
        "warmup_requests": 6,
        "latency_ms": {},
    }
    assert serving_check_lines(failed) == [
        "serving check: failed",
        "  serving_default rejected a warm-up request: no_such_feature",
    ]
    assert serving_check_lines(None) == []  # the run stopped before the check


def test_tuning_lines_list_each_trial_and_what_the_trainer_used() -> None:
    tuning = {
        "strategy": "bayesian",
        "objective": "val_loss",
        "config_values": {"embedding_dim": 8, "learning_rate": 0.002},
        "trials": [
            {
                "trial_id": "1",
                "score": 0.52781,
                "max_epochs": 20,
                "hyperparameters": {"embedding_dim": 16, "learning_rate": 0.00056104},
            },
            {
                "trial_id": "0",
                "score": 0.65,
                "max_epochs": 20,
                "hyperparameters": {"embedding_dim": 8, "learning_rate": 0.002},
            },
        ],
    }
    training = {"hyperparameters": {"embedding_dim": 16, "learning_rate": 0.00056104}}
    assert tuning_lines(tuning, training) == [
        "tuning (bayesian, val_loss): 2 trials completed",
        "  trial 1: 0.5278 in <=20 epochs, embedding_dim=16, learning_rate=0.000561",
        "  trial 0: 0.6500 in <=20 epochs, embedding_dim=8, learning_rate=0.002 (the config's)",
        "  trained with: embedding_dim=16, learning_rate=0.000561",
    ]
    assert tuning_lines(None, training) == [
        "hyperparameters (last tuned): embedding_dim=16, learning_rate=0.000561"
    ]
    assert tuning_lines(None, {"hyperparameters": {}}) == []


def test_an_inferred_schema_is_frozen_on_the_first_push_and_holds_the_next_span(
    capsys, tmp_path: Path, monkeypatch, isolated_logging, penguins_config_path, penguins_csv
) -> None:
    import pandas as pd
    import tensorflow_data_validation as tfdv

    import aet.pipelines.runners
    import aet.pipelines.summary

    output = tmp_path / "run"
    schema_dir = tmp_path / "SchemaGen"
    schema_dir.mkdir()
    inferred = tfdv.infer_schema(tfdv.generate_statistics_from_csv(str(penguins_csv)))
    tfdv.write_schema_text(inferred, str(schema_dir / "schema.pbtxt"))
    schema_gens = []

    def runs(pipeline) -> None:
        ids = {component.id: component for component in pipeline.components}
        schema_gens.append(ids.get("ImportSchemaGen") or ids["SchemaGen"])

    def pushed(config, metadata_path: str) -> dict:
        summary = {"domain": config.name, "blessed": True, "metrics": {}, "components": {}}
        return {
            **summary,
            "pushed_model_dir": str(output / "serving" / "penguins" / "1"),
            "schema_dir": str(schema_dir),
            "component_seconds": {},
        }

    monkeypatch.setattr(aet.pipelines.runners, "run_local", runs)
    monkeypatch.setattr(aet.pipelines.summary, "collect_summary", pushed)
    later = tmp_path / "later.csv"
    pd.read_csv(penguins_csv).iloc[:100].to_csv(later, index=False)
    for data in (penguins_csv, later):
        code = main(
            ["run", str(penguins_config_path), "--data", str(data), "--output", str(output)]
        )
        assert code == EXIT_OK
    frozen = output / "schema" / "frozen.pbtxt"
    first, second = schema_gens
    assert first.id == "SchemaGen"
    assert second.id == "ImportSchemaGen"
    assert second.exec_properties["schema_file"] == str(frozen)
    printed = capsys.readouterr().out
    assert f"schema frozen for later spans: {frozen}" in printed
    assert f"schema: {frozen} (frozen from the first pushed run)" in printed
