"""`components.drift`: what DistributionValidator is asked, what it found, the gate.

The comparisons are DriftValidator's executor (TFX's DistributionValidator with the
sampling floor) on TFDV statistics of German Credit samples: unchanged samples, large
and small, and ones whose applicant mix has moved."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from PIL import Image
from tfx.components.distribution_validator import executor as tfx_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.types.standard_artifacts import ExampleAnomalies, ExampleStatistics

from aet.components.drift.executor import Executor
from aet.components.drift.gate import DataDriftError, DriftGate
from aet.components.drift.validation import (
    COMPARED_SPLITS,
    SERVING_SPLIT,
    SKEW_SPLITS,
    read_drift,
    sampling_floor,
    validator_config,
)
from aet.config import DomainConfig, ImageConfig
from aet.config.kinds import kind_of
from aet.kinds.image.ingestion import ImageFile, decode, to_example
from aet.serving.request_log import RequestLog
from tests.conftest import SHARED_DATASETS

SPLIT = COMPARED_SPLITS[0]


def _config(finance_config: DomainConfig, **drift) -> DomainConfig:
    raw = finance_config.dict()
    raw["drift"].update(drift)
    return DomainConfig.parse_obj(raw)


def _statistics(
    frame: pd.DataFrame, root, split: str = SPLIT, statistics=None
) -> ExampleStatistics:
    """An ExampleStatistics artifact laid out as StatisticsGen writes it, of `frame`
    (or of the given `statistics`)."""
    artifact = ExampleStatistics()
    artifact.uri = os.fspath(root)
    artifact.split_names = artifact_utils.encode_split_names([split])
    folder = artifact_utils.get_split_uri([artifact], split)
    os.makedirs(folder)
    if statistics is None:
        statistics = tfdv.generate_statistics_from_dataframe(frame)
    with open(os.path.join(folder, "FeatureStats.pb"), "wb") as handle:
        handle.write(statistics.SerializeToString())
    return artifact


def _validate(
    config: DomainConfig, new: pd.DataFrame, previous: pd.DataFrame, root, executor=Executor
) -> str:
    """DriftValidator (or another `executor`) on `new` against `previous`: its
    anomalies' folder."""
    return _compare(
        config,
        _statistics(new, root / "new"),
        _statistics(previous, root / "previous"),
        root,
        executor,
    )


def _compare(
    config: DomainConfig,
    new: ExampleStatistics,
    previous: ExampleStatistics,
    root,
    executor=Executor,
) -> str:
    anomalies = ExampleAnomalies()
    anomalies.uri = os.fspath(root / "anomalies")
    os.makedirs(anomalies.uri)
    executor().Do(
        {
            standard_component_specs.STATISTICS_KEY: [new],
            standard_component_specs.BASELINE_STATISTICS_KEY: [previous],
        },
        {standard_component_specs.ANOMALIES_KEY: [anomalies]},
        {
            standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY: validator_config(
                config, kind_of(config).drift_features(config)
            ),
            standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY: json.dumps([COMPARED_SPLITS]),
        },
    )
    return anomalies.uri


@pytest.fixture(scope="module")
def halves(german_credit_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(german_credit_csv).sample(frac=1.0, random_state=0)
    return frame.iloc[:500], frame.iloc[500:]


def _drifted(frame: pd.DataFrame) -> pd.DataFrame:
    """A later span whose applicants borrow much more, mostly for new cars."""
    moved = frame.copy()
    moved["credit_amount"] *= 3
    moved.loc[moved.index[: len(moved) // 2], "purpose"] = "car (new)"
    return moved


def test_each_feature_gets_its_kinds_comparator_at_its_threshold(finance_config) -> None:
    config = _config(
        finance_config, numeric=0.2, categorical=0.05, thresholds={"age_in_years": 0.3}
    )
    compared = {
        ".".join(f.path.step): f.distribution_comparator
        for f in validator_config(
            config, kind_of(config).drift_features(config)
        ).default_slice_config.feature
    }
    assert set(compared) == {*config.features.input_names, "creditability"}
    assert compared["credit_amount"].jensen_shannon_divergence.threshold == pytest.approx(0.2)
    assert compared["age_in_years"].jensen_shannon_divergence.threshold == pytest.approx(0.3)
    assert compared["purpose"].infinity_norm.threshold == pytest.approx(0.05)
    assert compared["creditability"].infinity_norm.threshold == pytest.approx(0.05)


def test_an_unchanged_span_does_not_drift(finance_config, halves, tmp_path) -> None:
    config = _config(finance_config, thresholds={"number_of_existing_credits_at_this_bank": 0.5})
    drift = read_drift(_validate(config, *halves, tmp_path))
    assert drift["drifted"] == []
    assert set(drift["features"]) == {*config.features.input_names, "creditability"}
    credit = drift["features"]["credit_amount"]
    assert credit["measure"] == "jensen_shannon_divergence"
    assert 0 <= credit["value"] < credit["threshold"]


def test_a_moved_applicant_mix_drifts_in_the_features_that_moved(
    finance_config, halves, tmp_path
) -> None:
    config = _config(finance_config, thresholds={"number_of_existing_credits_at_this_bank": 0.5})
    new, previous = halves
    drift = read_drift(_validate(config, _drifted(new), previous, tmp_path))
    assert drift["drifted"] == ["credit_amount", "purpose"]
    assert drift["features"]["purpose"]["measure"] == "l_infinity"
    assert drift["features"]["purpose"]["value"] > 0.3
    assert any("purpose" in reason and "car (new)" in reason for reason in drift["reasons"])


def test_small_unchanged_samples_are_not_called_drifted_for_their_chance_differences(
    finance_config, german_credit_csv, tmp_path
) -> None:
    config = _config(finance_config, thresholds={"number_of_existing_credits_at_this_bank": 0.5})
    credit = pd.read_csv(german_credit_csv)
    pairs = []  # eight draws of two disjoint samples of 175 applicants
    for seed in range(8):
        frame = credit.sample(frac=1.0, random_state=seed)
        pairs.append((frame.iloc[:175], frame.iloc[175:350]))
    bare, floored = [], []
    for seed, (new, previous) in enumerate(pairs):
        root = tmp_path / str(seed)
        bare += read_drift(_validate(config, new, previous, root / "bare", tfx_executor.Executor))[
            "drifted"
        ]
        drift = read_drift(_validate(config, new, previous, root / "floored"))
        floored += drift["drifted"]
    assert len(bare) >= 2  # at the bare thresholds, chance alone passes some features
    assert floored == []
    assert drift["rows"] == [175, 175]
    assert drift["sampling_floor"] == pytest.approx(sampling_floor(175, 175), abs=1e-6)
    assert drift["features"]["purpose"]["threshold"] == pytest.approx(drift["sampling_floor"])
    existing = drift["features"]["number_of_existing_credits_at_this_bank"]
    assert existing["threshold"] == pytest.approx(0.5)  # above the floor: as configured
    moved = read_drift(_validate(config, _drifted(new), previous, tmp_path / "moved"))
    assert moved["drifted"] == ["credit_amount", "purpose"]


def test_the_sampling_floor_shrinks_as_the_samples_grow() -> None:
    assert sampling_floor(175, 175) > 0.2 > sampling_floor(500, 500) > 0.1
    assert sampling_floor(10_000, 10_000) < 0.03
    assert sampling_floor(50, 10_000) > sampling_floor(10_000, 10_000) * 10


def test_nothing_compared_reads_as_no_drift_check(tmp_path) -> None:
    assert read_drift(os.fspath(tmp_path)) is None


def test_the_gate_stops_a_drifted_span_and_passes_an_unchanged_one(
    finance_config, halves, tmp_path
) -> None:
    config = _config(finance_config, thresholds={"number_of_existing_credits_at_this_bank": 0.5})
    new, previous = halves
    clean = ExampleAnomalies()
    clean.uri = _validate(config, new, previous, tmp_path / "clean")
    assert DriftGate.test_call(anomalies=clean, span=2) is None
    drifted = ExampleAnomalies()
    drifted.uri = _validate(config, _drifted(new), previous, tmp_path / "drifted")
    with pytest.raises(
        DataDriftError,
        match=r"span 3 drifted; .*\n  from the span before it in credit_amount, purpose",
    ) as raised:
        DriftGate.test_call(anomalies=drifted, span=3)
    assert "credit_amount: The approximate Jensen-Shannon divergence" in str(raised.value)
    assert "served model" not in str(raised.value)
    with pytest.raises(DataDriftError, match=r"from the served model's training data in credit"):
        DriftGate.test_call(anomalies=clean, training_anomalies=drifted, span=4)


def _logged_requests(config: DomainConfig, frame: pd.DataFrame, folder) -> ExampleStatistics:
    """`frame`'s rows as a client sends them (no label), kept by a RequestLog, and the
    statistics TFDV computes of the log."""
    encode = kind_of(config).request_encoder(config)
    with RequestLog(folder / "log") as log:
        log.record([encode(row) for row in frame.astype(str).to_dict("records")])
    statistics = tfdv.generate_statistics_from_tfrecord(str(log.path))
    return _statistics(None, folder / "requests", SERVING_SPLIT, statistics)


def _skew(config: DomainConfig, requests: ExampleStatistics, training: pd.DataFrame, root):
    anomalies = ExampleAnomalies()
    anomalies.uri = os.fspath(root / "skew")
    os.makedirs(anomalies.uri)
    features = kind_of(config).drift_features(config)
    features.pop(config.features.label.name)
    Executor().Do(
        {
            standard_component_specs.STATISTICS_KEY: [requests],
            standard_component_specs.BASELINE_STATISTICS_KEY: [
                _statistics(training, root / "training")
            ],
        },
        {standard_component_specs.ANOMALIES_KEY: [anomalies]},
        {
            standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY: validator_config(
                config, features
            ),
            standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY: json.dumps([SKEW_SPLITS]),
        },
    )
    return read_drift(anomalies.uri, SKEW_SPLITS)


def test_logged_requests_like_the_training_data_raise_no_skew(
    finance_config, halves, tmp_path
) -> None:
    config = _config(finance_config, thresholds={"number_of_existing_credits_at_this_bank": 0.5})
    new, training = halves
    skew = _skew(config, _logged_requests(config, new, tmp_path), training, tmp_path)
    assert skew["drifted"] == []
    assert set(skew["features"]) == set(config.features.input_names)  # the label: none


def test_logged_requests_that_moved_from_training_raise_the_skew_alarm(
    finance_config, halves, tmp_path
) -> None:
    config = _config(finance_config, thresholds={"number_of_existing_credits_at_this_bank": 0.5})
    new, training = halves
    requests = _logged_requests(config, _drifted(new), tmp_path)
    skew = _skew(config, requests, training, tmp_path)
    assert skew["drifted"] == ["credit_amount", "purpose"]


def _ingested_statistics(images: np.ndarray, labels: np.ndarray, root) -> ExampleStatistics:
    """28x28 grey X-rays ingested as a span's training split, and their statistics."""
    classes = ("normal", "pneumonia")
    files = []
    for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        files.append(ImageFile(f"x{index}.png", classes[label], SPLIT, buffer.getvalue(), 1))
    root.mkdir(parents=True)
    records = os.fspath(root / "ingested.tfrecord")
    with tf.io.TFRecordWriter(records) as writer:
        for image in files:
            writer.write(to_example(image, decode(image, ImageConfig())).SerializeToString())
    statistics = tfdv.generate_statistics_from_tfrecord(records)
    return _statistics(None, root / "statistics", statistics=statistics)


def test_an_image_span_from_a_changed_scanner_drifts_in_brightness_and_contrast(
    tmp_path,
) -> None:
    from aet.pipelines.domains import load_domain

    config = load_domain("medical_imaging")
    with np.load(SHARED_DATASETS / "pneumoniamnist" / "pneumoniamnist.npz") as data:
        images, labels = data["train_images"][:600], data["train_labels"][:600, 0]
    previous = _ingested_statistics(images[:300], labels[:300], tmp_path / "previous")
    same = _ingested_statistics(images[300:], labels[300:], tmp_path / "same")
    unchanged = read_drift(_compare(config, same, previous, tmp_path / "unchanged"))
    assert set(unchanged["features"]) == {"brightness", "contrast", "label"}
    assert unchanged["drifted"] == []
    # A flatter, brighter exposure: half the contrast, lifted towards white.
    exposed = (images[300:] * 0.5 + 110).astype(np.uint8)
    changed = _ingested_statistics(exposed, labels[300:], tmp_path / "exposed")
    drift = read_drift(_compare(config, changed, previous, tmp_path / "changed"))
    assert drift["drifted"] == ["brightness", "contrast"]
