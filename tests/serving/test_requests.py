"""aet.serving.requests: raw records, image files and item histories to the serialized
tf.Examples `serving_default` takes, and `aet predict --input` files read with an id per
record; every bad input refused with its file, line (or record) and field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import tensorflow as tf
from PIL import Image

from aet.config.contract import EXCLUDE_ITEMS, HISTORY_ITEMS
from aet.kinds.image.requests import examples_from_images
from aet.pipelines.domains import load_domain
from aet.serving.requests import RequestError, examples_from_records, read_input
from tests.transform_fixture import load_schema, read_rows, to_example

ROWS = 5


def _parsed(serialized: bytes) -> tf.train.Example:
    return tf.train.Example.FromString(serialized)


def _values(example: tf.train.Example, name: str) -> list:
    feature = example.features.feature[name]
    return list(getattr(feature, feature.WhichOneof("kind")).value)


@pytest.fixture(scope="module")
def recommendation_config():
    return load_domain("recommendation")


@pytest.fixture(scope="module")
def imaging_config():
    return load_domain("medical_imaging")


@pytest.fixture
def credit_csv(tmp_path: Path, german_credit_csv: Path) -> Path:
    """The first rows of German Credit, label included, as a user would pass them."""
    lines = german_credit_csv.read_text().splitlines()[: ROWS + 1]
    path = tmp_path / "applicants.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_rows_encode_as_example_gen_encoded_the_training_data(finance_config, credit_csv: Path):
    request = read_input(finance_config, credit_csv)

    label = finance_config.features.label.name
    typed = read_rows(credit_csv, load_schema(finance_config), ROWS)
    assert request.ids == [2, 3, 4, 5, 6]  # CSV line numbers, after the header
    assert request.examples.dtype == object
    for served, row in zip(request.examples, typed, strict=True):
        assert _parsed(served) == _parsed(to_example(row, omit=(label,)))
    first = _parsed(request.examples[0])
    assert first.features.feature["duration_in_month"].WhichOneof("kind") == "int64_list"
    assert _values(first, "duration_in_month") == [6]
    assert _values(first, "purpose") == [b"radio/television"]
    assert label not in first.features.feature  # only what the model reads is sent


def test_json_lines_give_the_same_examples_as_csv(finance_config, credit_csv, tmp_path):
    with open(credit_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    path = tmp_path / "applicants.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")

    from_json = read_input(finance_config, path)
    from_csv = read_input(finance_config, credit_csv)

    assert from_json.ids == [1, 2, 3, 4, 5]
    assert [_parsed(e) for e in from_json.examples] == [_parsed(e) for e in from_csv.examples]


def test_a_bad_csv_value_names_the_file_line_and_field(finance_config, credit_csv, tmp_path):
    with open(credit_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[2]["duration_in_month"] = "twelve"
    path = _write_csv(tmp_path / "bad.csv", rows)

    with pytest.raises(RequestError) as caught:
        read_input(finance_config, path)
    assert str(caught.value) == (
        f"{path}, line 4: field 'duration_in_month': 'twelve' is not a valid INT"
    )


def test_a_missing_column_or_a_short_row_is_refused(finance_config, credit_csv, tmp_path):
    with open(credit_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    without_age = [{k: v for k, v in row.items() if k != "age_in_years"} for row in rows]
    with pytest.raises(RequestError, match=r"line 1: the header has no column\(s\) \['age_in_"):
        read_input(finance_config, _write_csv(tmp_path / "no_age.csv", without_age))

    lines = credit_csv.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 2)[0]
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines) + "\n")
    with pytest.raises(RequestError, match=r"short.csv, line 4: 19 fields, the header has 21"):
        read_input(finance_config, short)


@pytest.mark.parametrize(
    ("second_line", "reason"),
    [
        (lambda row: json.dumps(row)[:-1], "not valid JSON"),
        (lambda row: json.dumps([row]), "expected one JSON object per line, got a list"),
        (
            lambda row: json.dumps({k: v for k, v in row.items() if k != "age_in_years"}),
            r"missing field\(s\) \['age_in_years'\]",
        ),
        (
            lambda row: json.dumps({**row, "age_in_years": [30]}),
            r"field 'age_in_years': expected one value, got \[30\]",
        ),
    ],
)
def test_json_lines_errors_name_the_line(finance_config, credit_csv, tmp_path, second_line, reason):
    with open(credit_csv, newline="") as handle:
        first, second = list(csv.DictReader(handle))[:2]
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(first) + "\n" + second_line(second) + "\n")

    with pytest.raises(RequestError, match=reason) as caught:
        read_input(finance_config, path)
    assert str(caught.value).startswith(f"{path}, line 2: ")


def test_records_in_memory_errors_name_the_record(finance_config, credit_csv):
    with open(credit_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[1]["credit_amount"] = "a lot"
    with pytest.raises(RequestError, match=r"^records\[1\]: field 'credit_amount': 'a lot'"):
        examples_from_records(finance_config, rows)


def test_a_domain_without_a_curated_schema_is_refused(credit_csv):
    config = load_domain("finance_risk", ["data.schema_file=null"])
    with pytest.raises(RequestError, match="no curated schema"):
        read_input(config, credit_csv)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("records.txt", "expected a CSV file"), ("missing.csv", "no such file or folder")],
)
def test_unknown_or_missing_input_files_are_refused(finance_config, tmp_path, name, reason):
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_text("a,b\n")
    with pytest.raises(RequestError, match=reason):
        read_input(finance_config, path)


def _image(path: Path, grey: int, kind: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 6), color=grey).save(path, format=kind)
    return path


def test_an_image_folder_sends_each_files_bytes_under_the_image_feature(imaging_config, tmp_path):
    folder = tmp_path / "xrays"
    files = [
        _image(folder / "b.png", 10),
        _image(folder / "normal" / "a.jpg", 200, "JPEG"),
        _image(folder / "a.jpeg", 90, "JPEG"),
    ]
    (folder / "notes.txt").write_text("not an image, not an image suffix: not sent")

    request = read_input(imaging_config, folder)

    expected = sorted(files)
    assert request.ids == [str(path) for path in expected]
    image = imaging_config.features.image.name
    for served, path in zip(request.examples, expected, strict=True):
        example = _parsed(served)
        assert list(example.features.feature) == [image]
        assert _values(example, image) == [path.read_bytes()]

    single = read_input(imaging_config, files[0])
    assert single.ids == [str(files[0])] and len(single.examples) == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n this is not the rest of a PNG", "cannot be decoded"),
        (None, "a GIF image; the model takes PNG or JPEG"),
    ],
)
def test_a_file_that_is_not_a_png_or_jpeg_is_refused_by_name(
    imaging_config, tmp_path, content, reason
):
    folder = tmp_path / "xrays"
    _image(folder / "fine.png", 128)
    bad = folder / "broken.png"
    if content is None:
        _image(bad, 128, "GIF")
    else:
        bad.write_bytes(content)

    with pytest.raises(RequestError, match=reason) as caught:
        read_input(imaging_config, folder)
    assert str(caught.value).startswith(f"{bad}: ")


def test_a_truncated_image_is_refused(imaging_config, tmp_path):
    whole = _image(tmp_path / "whole.png", 50).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(RequestError, match=rf"^{cut}: cannot be decoded"):
        examples_from_images(imaging_config, [cut])


def test_an_empty_image_folder_is_refused(imaging_config, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RequestError, match="no image files"):
        read_input(imaging_config, tmp_path / "empty")


def test_histories_with_and_without_exclusions(recommendation_config, tmp_path):
    path = tmp_path / "users.jsonl"
    lines = [
        {"history": ["50", "172", 133], "exclude": ["50", "172", "133"]},
        {"history": ["7"]},
        {"history": [], "exclude": None},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    request = read_input(recommendation_config, path)

    assert request.ids == [1, 2, 3]
    first, second, third = (_parsed(example) for example in request.examples)
    assert _values(first, HISTORY_ITEMS) == [b"50", b"172", b"133"]  # oldest first, as given
    assert _values(first, EXCLUDE_ITEMS) == [b"50", b"172", b"133"]
    assert _values(second, HISTORY_ITEMS) == [b"7"]
    assert EXCLUDE_ITEMS not in second.features.feature
    assert list(third.features.feature[HISTORY_ITEMS].bytes_list.value) == []
    same = examples_from_records(recommendation_config, lines)
    assert [_parsed(e) for e in same] == [first, second, third]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"exclude": ["1"]}, "field 'history' is missing"),
        ({"history": "50 172"}, "field 'history': expected a list of item ids, got '50 172'"),
        ({"history": ["1", 2.5]}, "field 'history': 2.5 is not an item id"),
        ({"history": ["1"], "exclude": "1"}, "field 'exclude': expected a list"),
        ({"history": ["1"], "excluded": ["1"]}, r"unknown field\(s\) \['excluded'\]"),
    ],
)
def test_a_bad_history_names_its_line_and_field(recommendation_config, tmp_path, record, reason):
    path = tmp_path / "users.jsonl"
    path.write_text(json.dumps({"history": ["1"]}) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(RequestError, match=rf"^{path}, line 2: {reason}"):
        read_input(recommendation_config, path)
    with pytest.raises(RequestError, match=rf"^records\[0\]: {reason}"):
        examples_from_records(recommendation_config, [record])


def test_histories_come_as_json_lines_only(recommendation_config, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("history\n1 2 3\n")
    with pytest.raises(RequestError, match="expected a JSON-lines file"):
        read_input(recommendation_config, path)
