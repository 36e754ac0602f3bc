"""medical_imaging end to end with the local runner: the embedded 16 X-rays and a
small MedMNIST .npz each go from images to a pushed model that answers raw PNG/JPEG
bytes, with Grad-CAM overlays beside the summary; a folder with bad files fails
before any component runs, naming them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aet.pipelines.cli import main
from aet.pipelines.data_sources import default_data_path
from aet.pipelines.domains import load_domain
from tests.conftest import SHARED_DATASETS
from tests.e2e.conftest import (
    SMALL_SEARCH,
    CliRun,
    assert_ready_for_tf_serving,
    assert_report_shows_the_run,
    assert_succeeded,
    assert_tuned_within_budget,
    run_aet,
    warmup_examples,
)
from tests.image_bombs import png_declaring
from tests.serving.stand_in_server import StandInServer

pytestmark = pytest.mark.e2e

PNEUMONIA_NPZ = SHARED_DATASETS / "pneumoniamnist" / "pneumoniamnist.npz"
# A slice of PneumoniaMNIST: enough images for a few epochs to clear AUC 0.6.
SLICE = {"train": 256, "val": 64, "test": 64}
SMALL_NPZ_TRAINING = [
    "--set", "training.batch_size=32",
    "--set", "training.steps_per_epoch=8",
    "--set", "training.train_steps=48",
    "--set", "training.eval_steps=2",
    "--set", "training.elastic.learning_rate.warmup_steps=8",
    "--set", "evaluation.thresholds={auc: {lower: 0.6}}",
    "--set", "evaluation.heat_maps=4",
]  # fmt: skip


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> CliRun:
    """The embedded 16 X-rays, tuned by the shipped random search (two trials)."""
    run = run_aet(
        "run",
        "medical_imaging",
        "--tune",
        *SMALL_SEARCH,
        "--set",
        "tuning.epochs_per_trial=2",
        output=tmp_path_factory.mktemp("mi-default"),
    )
    assert_succeeded(run)
    return run


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory) -> tuple[CliRun, Path]:
    folder = tmp_path_factory.mktemp("mi-npz")
    small = folder / "pneumonia_slice.npz"
    with np.load(PNEUMONIA_NPZ) as data:
        arrays = {
            f"{split}_{kind}": data[f"{split}_{kind}"][:count]
            for split, count in SLICE.items()
            for kind in ("images", "labels")
        }
    np.savez(small, **arrays)
    run = run_aet(
        "run", "medical_imaging", "--data", str(small), *SMALL_NPZ_TRAINING, output=folder / "run"
    )
    assert_succeeded(run)
    return run, small


def _served(pushed: str):
    return tf.saved_model.load(pushed).signatures


def _example(image: bytes) -> bytes:
    feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_default_run_pushes_a_model_that_answers_raw_jpeg_bytes(default_run: CliRun) -> None:
    summary = default_run.summary
    assert summary["status"] == "succeeded" and summary["blessed"] is True
    assert {"ImageExampleGen", "ImportSchemaGen", "Transform", "Trainer", "HeatMaps"} <= set(
        summary["components"]
    )
    assert summary["ingestion"]["examples"] == {"train": 12, "eval": 2, "test": 2}
    balanced = {"normal": 1, "pneumonia": 1}
    assert summary["ingestion"]["labels"] == {
        "train": {"normal": 6, "pneumonia": 6},
        "eval": balanced,
        "test": balanced,
    }
    assert summary["ingestion"]["bad"] == []
    assert "16 images prove" in summary["data_note"] and "16 images prove" in default_run.stdout
    assert {"auc", "accuracy", "sensitivity", "specificity"} <= set(summary["metrics"]["overall"])

    folder = default_data_path(load_domain("medical_imaging"))
    xrays = sorted(folder.glob("*.jpeg"))[:3]
    signatures = _served(summary["pushed_model_dir"])
    by_bytes = signatures["predict_image"](
        image_bytes=tf.constant([path.read_bytes() for path in xrays])
    )["probability"].numpy()
    by_example = signatures["serving_default"](
        examples=tf.constant([_example(path.read_bytes()) for path in xrays])
    )["probability"].numpy()
    assert by_bytes.shape == (3,) and np.all((by_bytes >= 0) & (by_bytes <= 1))
    np.testing.assert_allclose(by_bytes, by_example, rtol=1e-5)
    # `explain`: the same answer, with the Grad-CAM grid of the class it answered.
    explained = signatures["explain"](
        examples=tf.constant([_example(path.read_bytes()) for path in xrays])
    )
    np.testing.assert_allclose(explained["probability"].numpy(), by_example, rtol=1e-5)
    answered = np.where(by_example >= 0.5, b"pneumonia", b"normal")
    assert explained["explained_class"].numpy().tolist() == answered.tolist()
    heat = explained["heat_map"].numpy()
    assert heat.shape[0] == 3 and heat.ndim == 3 and heat.min() >= 0 and heat.max() <= 1
    # A 99-byte PNG declaring 20000x20000 is refused from its header, as TF Serving's
    # INVALID_ARGUMENT, by both signatures.
    bomb = png_declaring(20000, 20000)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"features\.image\.max_pixels"):
        signatures["predict_image"](image_bytes=tf.constant([bomb]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"features\.image\.max_pixels"):
        signatures["serving_default"](examples=tf.constant([_example(bomb)]))
    logs = assert_ready_for_tf_serving(
        default_run,
        {"serving_default": 2, "explain": 2, "predict_image": 2, "classification": 2},
    )
    # The run's global view: one mean map per class of the 2 held-out X-rays, too few to
    # draw an average image of, so none is drawn and the card publishes none.
    classes = summary["explanations"]["classes"]
    assert [(c["label"], c["examples"]) for c in classes] == [("normal", 1), ("pneumonia", 1)]
    assert all("file" not in c and np.shape(c["mean_heat_map"]) == heat.shape[1:] for c in classes)
    card = json.loads(
        (Path(summary["pushed_model_dir"]) / "assets.extra" / "model_card.json").read_text()
    )
    assert card["explanations"]["method"] == "Grad-CAM" and card["explanations"]["classes"] == []
    # Checked against the 16 X-rays: no warm-up image is one of them, and neither their
    # names nor their folder travel with the model.
    sent = warmup_examples(logs)
    assert sent and all(set(example.features.feature) == {"image"} for example in sent)
    scans = {path.read_bytes() for path in folder.iterdir()}
    assert not {e.features.feature["image"].bytes_list.value[0] for e in sent} & scans
    warmup_file = Path(summary["pushed_model_dir"]) / "assets.extra" / "tf_serving_warmup_requests"
    shipped = warmup_file.read_bytes()
    assert all(path.stem.encode() not in shipped for path in folder.iterdir())
    assert str(folder).encode() not in shipped


def test_the_default_run_tunes_within_its_wall_clock(default_run: CliRun) -> None:
    tuning = assert_tuned_within_budget(default_run, "random", "val_auc")
    assert len(tuning["trials"]) >= 2


def test_aet_predict_through_a_model_server_answers_as_the_model_does(
    default_run: CliRun, tmp_path: Path, capsys
) -> None:
    """An image folder -> tf.Examples -> serving_default over REST (a stand-in TF Serving
    holding the pushed version) gives what `predict_image` gives in process."""
    pushed = Path(default_run.summary["pushed_model_dir"])
    folder = tmp_path / "xrays"
    folder.mkdir()
    xrays = sorted(default_data_path(load_domain("medical_imaging")).glob("*.jpeg"))[:3]
    for path in xrays:
        (folder / path.name).write_bytes(path.read_bytes())
    with StandInServer(str(pushed), "medical_imaging", version=int(pushed.name)) as server:
        code = main(
            ["predict", "medical_imaging", "--server", server.rest_url, "--input", str(folder)]
        )
    assert code == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(line["id"]).name for line in printed] == [path.name for path in xrays]
    in_process = _served(str(pushed))["predict_image"](
        image_bytes=tf.constant([path.read_bytes() for path in xrays])
    )["probability"].numpy()
    np.testing.assert_allclose([line["probability"] for line in printed], in_process, rtol=1e-5)


def test_heat_maps_are_png_overlays_beside_the_summary(default_run: CliRun) -> None:
    heat_maps = default_run.summary["heat_maps"]
    assert Path(heat_maps["dir"]) == default_run.output / "heat_maps"
    assert len(heat_maps["images"]) == 2  # the whole 2-image test split
    for entry in heat_maps["images"]:
        assert entry["label"] in ("normal", "pneumonia")
        assert 0 <= entry["probability"]["pneumonia"] <= 1
        with Image.open(Path(heat_maps["dir"]) / entry["file"]) as png:
            assert png.format == "PNG" and png.mode == "RGB" and max(png.size) == 224
            pixels = np.asarray(png).astype(int)
        # Coloured, not the grey X-ray: the heat map is blended in.
        assert np.abs(pixels[..., 0] - pixels[..., 2]).mean() > 5


def test_the_run_report_shows_each_heat_map_with_its_label_and_probability(
    default_run: CliRun,
) -> None:
    sections = {
        "overview", "data", "images", "training", "evaluation", "heat-maps", "class-maps",
        "serving",
    }  # fmt: skip
    found = assert_report_shows_the_run(default_run, sections)
    order = found["sections"]
    assert order.index("images") == order.index("data") + 1  # the kind's own, in place
    # Two of the kind's own after one section: in the kind's order.
    assert order.index("heat-maps") == order.index("evaluation") + 1
    assert order.index("class-maps") == order.index("heat-maps") + 1
    images = default_run.summary["heat_maps"]["images"]
    assert found["figures"] >= len(images)
    page = (default_run.output / "report" / "index.html").read_text()
    for label in ("normal", "pneumonia"):  # a few training images of each class
        assert re.search(f'data-samples="{label}">\\s*<img src="data:image/png', page), label
    assert "image sizes (" in page
    for entry in images:
        assert f'data-heat-map="{entry["file"]}"' in page
        assert f"true: <b>{entry['label']}</b>" in page
        assert f"P(pneumonia) = {entry['probability']['pneumonia']:.3f}" in page


def test_npz_run_keeps_its_splits_and_serves_png_bytes(npz_run) -> None:
    run, small = npz_run
    summary = run.summary
    assert summary["blessed"] is True and summary["pushed_model_dir"]
    assert summary["ingestion"]["examples"] == {"train": 256, "eval": 64, "test": 64}
    assert summary["data_note"] is None
    overall = summary["metrics"]["overall"]
    assert overall["auc"] >= 0.6
    for name in ("sensitivity", "specificity"):
        assert 0.0 <= overall[name] <= 1.0
    with np.load(small) as data:
        images, labels = data["test_images"][:16], data["test_labels"][:16, 0]
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    probability = _served(summary["pushed_model_dir"])["predict_image"](
        image_bytes=tf.constant(encoded)
    )["probability"].numpy()
    assert probability.shape == (16,)
    # Better than chance on these 16 test images: pneumonia scores above normal ones.
    assert probability[labels == 1].mean() > probability[labels == 0].mean()


def test_a_folder_with_bad_files_fails_in_its_example_gen_naming_them(tmp_path: Path) -> None:
    folder = tmp_path / "xrays"
    folder.mkdir()
    for index in range(6):
        pixels = np.full((32, 32), 40 * index, np.uint8)
        Image.fromarray(pixels).save(folder / f"NORMAL-{index}.png")
        Image.fromarray(255 - pixels).save(folder / f"person{index}_bacteria.png")
    (folder / "NORMAL-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "person9_bacteria_notes.txt").write_text("not an image")

    run = run_aet("run", "medical_imaging", "--data", str(folder), output=tmp_path / "run")

    assert run.returncode == 1, run.stdout + run.stderr
    assert "input checked: 14 files" in run.stdout  # listed before the pipeline, by name
    assert "2 of 14 images are bad" in run.stderr
    assert "NORMAL-broken.png: cannot be decoded" in run.stderr
    assert "person9_bacteria_notes.txt: not a PNG or JPEG file" in run.stderr
    components = run.summary["components"]
    assert components["ImageExampleGen"] == "failed"
    assert "StatisticsGen" not in components and run.summary["pushed_model_dir"] is None
