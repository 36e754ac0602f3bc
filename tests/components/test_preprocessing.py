"""`components.preprocessing.preprocessing_fn` run by tensorflow_transform's Beam
implementation on German Credit rows (the shared `transform_run` fixture), checked
against statistics computed here with numpy and the csv module."""

from __future__ import annotations

import bisect
import functools
from collections import Counter

import numpy as np
import pytest

from aet.components.features import LABEL_VOCABULARY, transformed_name
from aet.components.preprocessing import NUM_OOV_BUCKETS
from aet.kinds.tabular.transform import bucket_labels
from tests.transform_fixture import PROBE_AGES, UNKNOWN_LABEL, UNSEEN_CATEGORY


def _column(transformed: list[dict], name: str) -> np.ndarray:
    return np.array([row[name][0] for row in transformed])


def _as_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- bucket_labels -------------------------------------------------------------------


def test_bucket_labels_name_every_interval_the_boundaries_cut():
    assert bucket_labels([25, 35, 50]) == ["<25", "25-35", "35-50", ">=50"]
    assert bucket_labels([10]) == ["<10", ">=10"]


def test_bucket_labels_keep_fractional_boundaries_and_drop_trailing_zeros():
    assert bucket_labels([0.5, 1.5]) == ["<0.5", "0.5-1.5", ">=1.5"]
    assert bucket_labels([25.0, 35.0]) == ["<25", "25-35", ">=35"]


# --- the Transform outputs -------------------------------------------------------------


def test_outputs_are_exactly_the_model_inputs_label_and_buckets(transform_run):
    features = transform_run.config.features
    expected = {transformed_name(n) for n in features.input_names}
    expected |= {transformed_name(features.label.name)} | {b.name for b in features.buckets}
    spec = transform_run.tf_transform_output.transformed_feature_spec()
    assert set(spec) == expected
    assert set(transform_run.train_transformed[0]) == expected


def test_numeric_features_are_z_scored_over_the_analysed_data(transform_run):
    for name in transform_run.config.features.numeric:
        raw = np.array([row[name] for row in transform_run.train_rows], dtype=np.float64)
        assert raw.std() > 0, f"{name} is constant in the sample: pick more rows"
        scaled = _column(transform_run.train_transformed, transformed_name(name))
        assert scaled.dtype == np.float32
        assert abs(scaled.mean()) < 1e-4, name
        assert scaled.std() == pytest.approx(1.0, abs=1e-3), name
        np.testing.assert_allclose(scaled, (raw - raw.mean()) / raw.std(), atol=1e-4)


def test_held_out_rows_use_the_statistics_frozen_from_the_analysed_data(transform_run):
    ages = np.array([row["age_in_years"] for row in transform_run.train_rows], dtype=np.float64)
    scaled = transform_run.probe_transformed[transformed_name("age_in_years")][: len(PROBE_AGES)]
    expected = (np.array(PROBE_AGES) - ages.mean()) / ages.std()
    np.testing.assert_allclose(scaled[:, 0], expected, atol=1e-4)


def test_categorical_features_map_to_their_vocabulary_index(transform_run):
    output = transform_run.tf_transform_output
    for name in transform_run.config.features.categorical:
        raw = [row[name] for row in transform_run.train_rows]
        vocabulary = [_as_str(v) for v in output.vocabulary_by_name(name)]
        assert sorted(vocabulary) == sorted(set(raw)), name
        assert output.vocabulary_size_by_name(name) == len(vocabulary)
        ids = _column(transform_run.train_transformed, transformed_name(name))
        assert ids.dtype == np.int64
        assert ids.tolist() == [vocabulary.index(value) for value in raw], name
        # Ordered by frequency, most frequent first.
        counts = Counter(raw)
        frequencies = [counts[value] for value in vocabulary]
        assert frequencies == sorted(frequencies, reverse=True), name


def test_unseen_category_maps_to_the_out_of_vocabulary_bucket(transform_run):
    output = transform_run.tf_transform_output
    vocab_size = output.vocabulary_size_by_name("purpose")
    probes = transform_run.probe_rows
    row = next(i for i, r in enumerate(probes) if r["purpose"] == UNSEEN_CATEGORY)
    ids = transform_run.probe_transformed[transformed_name("purpose")][:, 0]
    assert NUM_OOV_BUCKETS == 1
    assert ids[row] == vocab_size  # the single OOV id, right after the vocabulary
    seen = [i for i, r in enumerate(probes) if r["purpose"] != UNSEEN_CATEGORY]
    assert all(0 <= ids[i] < vocab_size for i in seen)


def test_every_categorical_id_fits_vocabulary_plus_oov(transform_run):
    output = transform_run.tf_transform_output
    for name in transform_run.config.features.categorical:
        limit = output.vocabulary_size_by_name(name) + NUM_OOV_BUCKETS
        for ids in (
            _column(transform_run.train_transformed, transformed_name(name)),
            transform_run.probe_transformed[transformed_name(name)][:, 0],
        ):
            assert ids.min() >= 0 and ids.max() < limit, name


def test_label_maps_to_the_index_of_its_class(transform_run):
    label = transform_run.config.features.label
    assert label.classes == ["good", "bad"]
    raw = [row[label.name] for row in transform_run.train_rows]
    assert {"good", "bad"} <= set(raw)
    ids = _column(transform_run.train_transformed, transformed_name(label.name))
    assert ids.tolist() == [{"good": 0, "bad": 1}[value] for value in raw]


def test_unknown_label_maps_to_minus_one(transform_run):
    label = transform_run.config.features.label.name
    probes = transform_run.probe_rows
    ids = transform_run.probe_transformed[transformed_name(label)][:, 0]
    for index, row in enumerate(probes):
        expected = {"good": 0, "bad": 1}.get(row[label], -1)
        assert ids[index] == expected, row[label]
    assert UNKNOWN_LABEL in [row[label] for row in probes]


@pytest.mark.parametrize(
    ("age", "band"),
    [(19, "<25"), (24, "<25"), (25, "25-35"), (34, "25-35"), (35, "35-50"), (49, "35-50"),
     (50, ">=50"), (60, ">=50")],
)  # fmt: skip
def test_age_band_uses_left_closed_intervals(transform_run, age, band):
    bands = transform_run.probe_transformed["age_band"][:, 0]
    assert _as_str(bands[PROBE_AGES.index(age)]) == band


def test_age_band_of_every_analysed_row(transform_run):
    (bucket,) = transform_run.config.features.buckets
    labels = bucket_labels(bucket.boundaries)
    bands = [_as_str(v) for v in _column(transform_run.train_transformed, "age_band")]
    ages = [row[bucket.source] for row in transform_run.train_rows]
    assert bands == [labels[bisect.bisect_right(bucket.boundaries, age)] for age in ages]


def test_label_vocabulary_holds_the_class_frequencies(transform_run):
    label = transform_run.config.features.label.name
    path = transform_run.tf_transform_output.vocabulary_file_by_name(LABEL_VOCABULARY)
    with open(path) as handle:
        lines = [line.rstrip("\n").split(" ", 1) for line in handle]
    counted = {value: int(count) for count, value in lines}
    assert counted == Counter(row[label] for row in transform_run.train_rows)
    assert [int(count) for count, _ in lines] == sorted(counted.values(), reverse=True)


# --- missing values and integer-coded categories (synthetic rows, sparse inputs) --------

SYNTHETIC = {
    "name": "synthetic",
    "data": {"default": "unused.csv"},
    "features": {
        "label": {"name": "outcome", "classes": [0, 1]},
        "numeric": ["amount"],
        "categorical": ["code", "colour"],
        "buckets": [{"name": "amount_band", "source": "amount", "boundaries": [10, 1000000]}],
    },
    "evaluation": {"metrics": ["auc"], "thresholds": {"auc": {"lower": 0.5}}},
    "serving": {"model_name": "synthetic"},
}
# Columns with missing values reach Transform as sparse (VarLenFeature) tensors; `None`
# marks a missing value. `code` and `outcome` are integers, as CsvExampleGen types them.
SYNTHETIC_ROWS = {
    "amount": [5, None, 20, 2_000_000, 7, 15, None, 30],
    "code": [1, 2, None, 1, 3, 1, 2, None],
    "colour": ["red", None, "blue", "red", "red", None, "blue", "green"],
    "outcome": [0, 1, 1, 0, None, 1, 0, 1],
}


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from aet.components.features import to_custom_config
    from aet.components.preprocessing import preprocessing_fn
    from aet.config import DomainConfig

    config = DomainConfig(**SYNTHETIC)
    spec = {
        "amount": tf.io.VarLenFeature(tf.int64),
        "code": tf.io.VarLenFeature(tf.int64),
        "colour": tf.io.VarLenFeature(tf.string),
        "outcome": tf.io.VarLenFeature(tf.int64),
    }
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    count = len(SYNTHETIC_ROWS["amount"])
    instances = [
        {name: [] if values[i] is None else [values[i]] for name, values in SYNTHETIC_ROWS.items()}
        for i in range(count)
    ]
    work = tmp_path_factory.mktemp("synthetic_transform")
    fn = functools.partial(preprocessing_fn, custom_config=to_custom_config(config))
    with tft_beam.Context(temp_dir=str(work / "tmp")):
        (transformed, _), transform_fn = (
            instances,
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(work / "output"))
    return transformed, tft.TFTransformOutput(str(work / "output"))


def test_missing_numeric_values_are_filled_with_zero_before_scaling(synthetic_run):
    transformed, _ = synthetic_run
    raw = np.array([0 if v is None else v for v in SYNTHETIC_ROWS["amount"]], np.float64)
    scaled = _column(transformed, "amount_xf")
    np.testing.assert_allclose(scaled, (raw - raw.mean()) / raw.std(), atol=1e-4)


def test_integer_categories_with_missing_values_get_vocabulary_ids(synthetic_run):
    transformed, output = synthetic_run
    for name in ("code", "colour"):
        vocabulary = [_as_str(v) for v in output.vocabulary_by_name(name)]
        ids = _column(transformed, f"{name}_xf").tolist()
        for value, id_ in zip(SYNTHETIC_ROWS[name], ids, strict=True):
            text = "" if value is None else str(value)
            expected = vocabulary.index(text) if text in vocabulary else len(vocabulary)
            assert id_ == expected, (name, value)
    assert {"1", "2", "3"} <= set(_as_str(v) for v in output.vocabulary_by_name("code"))


def test_integer_labels_map_to_their_class_and_missing_ones_to_minus_one(synthetic_run):
    transformed, _ = synthetic_run
    expected = [-1 if v is None else v for v in SYNTHETIC_ROWS["outcome"]]
    assert _column(transformed, "outcome_xf").tolist() == expected


def test_buckets_of_large_whole_boundaries_read_in_full(synthetic_run):
    transformed, _ = synthetic_run
    assert bucket_labels([10, 1000000]) == ["<10", "10-1000000", ">=1000000"]
    bands = [_as_str(v) for v in _column(transformed, "amount_band")]
    assert bands == ["<10", "<10", "10-1000000", ">=1000000", "<10", "10-1000000", "<10",
                     "10-1000000"]  # fmt: skip


# --- image decoding (image domains) --------------------------------------------------


def _encoded(array: np.ndarray, fmt: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def test_image_pixels_decode_resize_and_convert_to_the_configured_channels():
    import tensorflow as tf

    from aet.config import ImageConfig
    from aet.kinds.image.transform import image_pixels

    colour = np.zeros((30, 40, 3), np.uint8)
    colour[..., 0] = 200  # pure red
    grey = np.full((10, 12), 64, np.uint8)
    encoded = tf.constant([_encoded(colour, "PNG"), _encoded(grey, "JPEG")])

    as_grey = image_pixels(encoded, ImageConfig(height=16, width=20, channels=1)).numpy()
    assert as_grey.shape == (2, 16, 20, 1)
    # Red 200 in luma (ITU-R 601: 0.299 R), and the grey JPEG's 64, scaled to [0, 1].
    np.testing.assert_allclose(as_grey[0], 0.299 * 200 / 255, atol=2 / 255)
    np.testing.assert_allclose(as_grey[1], 64 / 255, atol=3 / 255)

    as_rgb = image_pixels(encoded, ImageConfig(height=8, width=8, channels=3)).numpy()
    assert as_rgb.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(as_rgb[0, ..., 0], 200 / 255, atol=1 / 255)
    np.testing.assert_allclose(as_rgb[0, ..., 1:], 0, atol=1 / 255)


def test_image_downscaling_is_antialiased():
    """One-pixel stripes shrunk 4x average to grey instead of aliasing into stripes."""
    import tensorflow as tf

    from aet.config import ImageConfig
    from aet.kinds.image.transform import image_pixels

    stripes = np.zeros((64, 64), np.uint8)
    stripes[:, ::2] = 255
    pixels = image_pixels(tf.constant([_encoded(stripes, "PNG")]), ImageConfig(height=16, width=16))
    np.testing.assert_allclose(pixels.numpy(), 0.5, atol=0.05)
