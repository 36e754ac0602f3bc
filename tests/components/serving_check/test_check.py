"""The in-process serving check on real exported models: a good one passes with every
signature replayed, and each way a model can fail on a server blocks it with the reason."""

from __future__ import annotations

import pytest
import tensorflow as tf

from aet.components.export.warmup import read_warmup_file, replayed, write_warmup_file
from aet.components.serving_check.check import check_model
from tests.exported_model import export, shared_exported_model, trainer_signatures
from tests.transform_fixture import to_example


@pytest.fixture(scope="module")
def model(transform_run, tmp_path_factory) -> tf.keras.Model:
    return shared_exported_model(transform_run, tmp_path_factory)[0]


@pytest.fixture(scope="module")
def good_model(transform_run, tmp_path_factory) -> str:
    return shared_exported_model(transform_run, tmp_path_factory)[1]


@pytest.fixture(scope="module")
def examples(transform_run) -> list[bytes]:
    """Held-out raw examples, label included, as ExampleGen wrote them."""
    return [to_example(row) for row in transform_run.probe_rows[:8]]


def _with(transform_run, **serving) -> object:
    config = transform_run.config
    return config.copy(update={"serving": config.serving.copy(update=serving)})


def test_a_good_model_passes_every_signature(good_model, transform_run, examples):
    report, logs = check_model(good_model, transform_run.config, examples)
    assert report.passed, report.problems
    assert report.signatures == {
        "serving_default": 2,
        "explain": 2,
        "predict_features": 2,
        "classification": 2,
    }
    assert 0 < report.latency_ms["p50"] <= report.latency_ms["p99"]
    assert report.latency_ms["budget"] == transform_run.config.serving.check.latency_budget_ms
    kinds = [log.WhichOneof("log_type") for log in logs]
    assert kinds.count("predict_log") == 6 and kinds.count("classify_log") == 2
    # What each signature takes and returns, as saved_model_cli lists it.
    serving = report.interfaces["serving_default"]
    assert serving["inputs"] == {"examples": "string [?]"}
    assert serving["outputs"] == {"probability": "float32 [?]"}
    assert report.interfaces["classification"]["method"] == "tensorflow/serving/classify"
    assert set(report.signatures) <= set(report.interfaces)


def test_the_warmup_file_round_trips_as_prediction_logs(
    good_model, transform_run, examples, tmp_path
):
    _, logs = check_model(good_model, transform_run.config, examples)
    path = str(tmp_path / "assets.extra" / "tf_serving_warmup_requests")
    write_warmup_file(path, logs)
    read = read_warmup_file(path)
    assert read == logs
    sizes = [request.batch_size for request in replayed(read)]
    assert sizes == [1] * 4 + [len(examples)] * 4
    assert read[0].predict_log.request.model_spec.name == transform_run.config.serving.model_name


def test_a_signature_that_rejects_the_examples_blocks_the_model(
    model, transform_run, examples, tmp_path
):
    signatures = trainer_signatures(model, transform_run)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def wants_a_feature_nobody_sends(serialized: tf.Tensor) -> dict:
        spec = {"no_such_feature": tf.io.FixedLenFeature([1], tf.float32)}
        return {"probability": tf.io.parse_example(serialized, spec)["no_such_feature"][:, 0]}

    signatures["serving_default"] = wants_a_feature_nobody_sends
    broken = export(model, transform_run, tmp_path / "broken", signatures)
    report, _ = check_model(broken, transform_run.config, examples)
    assert not report.passed
    assert any(
        problem.startswith("serving_default rejected a warm-up request")
        and "no_such_feature" in problem
        for problem in report.problems
    ), report.problems


def test_probabilities_out_of_range_and_disagreeing_signatures_block_the_model(
    model, transform_run, examples, tmp_path
):
    signatures = trainer_signatures(model, transform_run)
    honest = signatures["serving_default"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def inflated(serialized: tf.Tensor) -> dict:
        return {"probability": honest(serialized)["probability"] * 10.0}

    signatures["serving_default"] = inflated
    report, _ = check_model(
        export(model, transform_run, tmp_path / "inflated", signatures),
        transform_run.config,
        examples,
    )
    assert "serving_default: 'probability' has values outside [0, 1]" in report.problems
    assert not report.passed


def test_an_export_without_its_explanation_signature_is_blocked(
    model, transform_run, examples, tmp_path
):
    signatures = trainer_signatures(model, transform_run)
    del signatures["explain"]
    report, _ = check_model(
        export(model, transform_run, tmp_path / "unexplained", signatures),
        transform_run.config,
        examples,
    )
    assert "explain: the model has no such signature" in report.problems
    assert not report.passed


def test_attributions_that_do_not_add_up_block_the_model(model, transform_run, examples, tmp_path):
    signatures = trainer_signatures(model, transform_run)
    honest = signatures["explain"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def shifted(serialized: tf.Tensor) -> dict:
        answer = honest(serialized)
        return {**answer, "attributions": answer["attributions"] + 0.01}

    signatures["explain"] = shifted
    report, _ = check_model(
        export(model, transform_run, tmp_path / "shifted", signatures),
        transform_run.config,
        examples,
    )
    assert any(
        problem.startswith("explain: 'attributions' do not add up") for problem in report.problems
    ), report.problems


def test_a_latency_budget_the_model_cannot_meet_blocks_it(good_model, transform_run, examples):
    config = _with(
        transform_run,
        check=transform_run.config.serving.check.copy(update={"latency_budget_ms": 1e-6}),
    )
    report, _ = check_model(good_model, config, examples)
    assert not report.passed
    assert len(report.problems) == 1
    assert "over the budget of 1e-06 ms (serving.check.latency_budget_ms)" in report.problems[0]


def test_a_classification_signature_not_marked_for_classify_is_reported(
    model, transform_run, examples, tmp_path
):
    path = str(tmp_path / "plain")
    signatures = trainer_signatures(model, transform_run)
    model.save(path, save_format="tf", signatures=signatures)  # without save_for_serving
    report, _ = check_model(path, transform_run.config, examples)
    assert report.problems == [
        "signature 'classification' has method 'tensorflow/serving/predict', "
        "not 'tensorflow/serving/classify'"
    ]


def test_a_folder_that_is_not_a_saved_model_fails_with_the_reason(
    transform_run, examples, tmp_path
):
    report, logs = check_model(str(tmp_path), transform_run.config, examples)
    assert not report.passed and logs == []
    assert report.problems[0].startswith("the SavedModel does not load")
