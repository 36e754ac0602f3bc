"""ImageExampleGen in a pipeline: ExampleGen's driver fingerprints the image files, so
a re-run on the same files is a cache hit and a changed image is ingested again; and it
reads one span of a spans folder by TFX's `{SPAN}` pattern."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from PIL import Image
from tfx.orchestration import metadata

from aet.components.ingestion_report import report_if_any
from aet.components.spans import SpanInput
from aet.kinds.image.example_gen import COMPONENT_ID, image_example_gen
from aet.kinds.image.ingestion import split_of
from aet.pipelines.domains import load_domain
from aet.pipelines.spans import stage_span
from tests.kinds.ingesting import run_alone

SHARES = {"train": 0.5, "eval": 0.5}
CONFIG = ["data.splits={train: 0.5, eval: 0.5}"]  # the domain's file-name rules label them


def _png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (12, 12), color=shade).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def xrays(tmp_path: Path) -> Path:
    folder = tmp_path / "xrays"
    folder.mkdir()
    for index in range(4):
        (folder / f"NORMAL-{index}.png").write_bytes(_png(10 * index))
        (folder / f"person{index}_bacteria.png").write_bytes(_png(250 - 10 * index))
    return folder


def _run(root: Path, data: Path, span: SpanInput | None = None) -> tuple[str, str]:
    return run_alone(
        root, image_example_gen(load_domain("medical_imaging", CONFIG), str(data), span)
    )


def test_same_files_are_a_cache_hit_and_a_changed_image_is_ingested_again(
    xrays: Path, tmp_path: Path
) -> None:
    state, first = _run(tmp_path, xrays)
    assert state == "complete"
    assert sum(report_if_any(first)["examples"].values()) == 8

    state, again = _run(tmp_path, xrays)
    assert (state, again) == ("cached", first)

    (xrays / "NORMAL-0.png").write_bytes(_png(99))  # same name, new content
    (xrays / "NORMAL-extra.png").write_bytes(_png(77))
    state, changed = _run(tmp_path, xrays)
    assert state == "complete" and changed != first
    assert sum(report_if_any(changed)["examples"].values()) == 9


def test_a_span_of_the_spans_folder_is_read_and_carries_its_number(
    xrays: Path, tmp_path: Path
) -> None:
    output = tmp_path / "output"
    span = stage_span(output, str(xrays), str(xrays))
    assert span.number == 1
    state, examples = _run(tmp_path, xrays, span)
    assert state == "complete" and f"/{COMPONENT_ID}/" in examples
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    )
    (artifact,) = store.get_artifacts_by_uri(examples)
    assert artifact.custom_properties["span"].int_value == 1
    # Each file's split is the hash of its name in the span's folder, as unspanned.
    expected: dict[str, dict[str, int]] = {"train": {}, "eval": {}}
    for path in xrays.iterdir():
        label = "normal" if path.name.startswith("NORMAL") else "pneumonia"
        split = split_of(path.name, SHARES)
        expected[split][label] = expected[split].get(label, 0) + 1
    assert report_if_any(examples)["labels"] == {
        split: dict(sorted(labels.items())) for split, labels in expected.items()
    }
