"""`aet predict`: the records of a file scored by a served model (the stand-in server
answering from a real SavedModel), one JSON line per record; bad input exits 2 before
anything is sent, a failing or unreachable server exits 1 with the server's reason."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aet.pipelines.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from tests.exported_model import shared_exported_model
from tests.image_bombs import png_declaring
from tests.serving.conftest import (
    TOY_HEAT_MAP,
    export_toy_image_model,
    export_toy_ranking_model,
)
from tests.serving.stand_in_server import StandInServer, write_self_signed_certificate
from tests.transform_fixture import load_schema, read_rows, shared_transform_run, to_example

ROWS = 6


@pytest.fixture(scope="module")
def finance_model(tmp_path_factory, finance_config, german_credit_csv) -> str:
    run = shared_transform_run(tmp_path_factory, finance_config, german_credit_csv)
    return shared_exported_model(run, tmp_path_factory)[1]


@pytest.fixture
def finance_server(finance_model):
    with StandInServer(finance_model, "finance_risk") as server:
        yield server


@pytest.fixture
def applicants(tmp_path: Path, german_credit_csv: Path) -> Path:
    path = tmp_path / "applicants.csv"
    path.write_text("\n".join(german_credit_csv.read_text().splitlines()[: ROWS + 1]) + "\n")
    return path


def _printed(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(scope="module")
def serving_default(finance_model):
    """The exported model loaded and called in this process, no server in between."""
    return tf.saved_model.load(finance_model).signatures["serving_default"]


def _in_process_probabilities(
    serving_default, csv_path: Path, config, batch_size: int
) -> np.ndarray:
    """The model's scores batch by batch (a row's float32 score can differ in its last bit
    with the batch around it), on the rows encoded as ExampleGen encodes them."""
    label = config.features.label.name
    rows = read_rows(csv_path, load_schema(config), ROWS)
    examples = [to_example(row, omit=(label,)) for row in rows]
    return np.concatenate(
        [
            serving_default(examples=tf.constant(examples[i : i + batch_size]))["probability"]
            for i in range(0, ROWS, batch_size)
        ]
    )


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_prints_one_line_per_row_with_the_models_probability(
    capsys, finance_server, serving_default, finance_config, applicants, transport
):
    url = finance_server.rest_url if transport == "rest" else finance_server.grpc_url
    code = main(
        [
            "predict",
            "finance_risk",
            "--server",
            url,
            "--input",
            str(applicants),
            "--batch-size",
            "4",
        ]
    )

    assert code == EXIT_OK
    lines = _printed(capsys)
    expected = _in_process_probabilities(serving_default, applicants, finance_config, 4)
    assert [line["id"] for line in lines] == list(range(2, ROWS + 2))  # CSV line numbers
    assert [set(line) for line in lines] == [{"id", "probability"}] * ROWS
    assert [line["probability"] for line in lines] == [float(p) for p in expected]
    assert [request.rows for request in finance_server.received] == [4, 2]


def test_a_bad_input_file_exits_2_naming_file_and_line_and_sends_nothing(
    capsys, finance_server, applicants
):
    with open(applicants, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[2]["duration_in_month"] = "forty-eight"
    with open(applicants, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    code = main(
        ["predict", "finance_risk", "--server", finance_server.rest_url, "--input", str(applicants)]
    )

    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(
        f"aet: error: {applicants}, line 4: field 'duration_in_month': 'forty-eight'"
    )
    assert finance_server.received == [] and finance_server.metadata_requests == 0


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--server", "ftp://models:21"], "unsupported server URL"),
        (["--server", "grpcs://localhost:1", "--tls-ca", "/no/such/ca.pem"], "--tls-ca"),
        (["--server", "http://localhost:1", "--batch-size", "0"], "must be positive"),
    ],
)
def test_bad_options_exit_2(capsys, applicants, options, reason):
    code = main(["predict", "finance_risk", "--input", str(applicants), *options])
    assert code == EXIT_BAD_INPUT
    assert reason in capsys.readouterr().err


def test_an_unreachable_server_exits_1_with_the_reason(capsys, applicants):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    code = main(
        [
            "predict",
            "finance_risk",
            "--server",
            f"http://127.0.0.1:{port}",
            "--input",
            str(applicants),
            "--retries",
            "1",
        ]
    )

    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith(f"aet: error: model 'finance_risk' at http://127.0.0.1:{port}: ")
    assert "Connection refused" in err and "after 2 attempts" in err
    assert capsys.readouterr().out == ""


def test_a_server_error_exits_1_with_the_servers_message(capsys, finance_server, applicants):
    finance_server.fail_next(1, grpc.StatusCode.INTERNAL, "the model server fell over")
    code = main(
        ["predict", "finance_risk", "--server", finance_server.grpc_url, "--input", str(applicants)]
    )

    assert code == EXIT_FAILED
    assert "gRPC INTERNAL: the model server fell over" in capsys.readouterr().err


def test_an_answer_over_the_size_limit_exits_1_naming_the_limit(capsys, finance_server, applicants):
    server = ["--server", finance_server.rest_url, "--input", str(applicants)]
    code = main(["predict", "finance_risk", *server, "--max-response-bytes", "64"])
    assert code == EXIT_FAILED
    assert "over max_response_bytes=64" in capsys.readouterr().err


def test_a_deadline_must_be_positive(capsys, applicants):
    server = ["--server", "http://localhost:1", "--input", str(applicants)]
    assert main(["predict", "finance_risk", *server, "--deadline", "0"]) == EXIT_BAD_INPUT
    assert "deadline_s and max_response_bytes must be positive" in capsys.readouterr().err


def test_model_name_and_version_reach_the_server(capsys, finance_server, applicants):
    base = [
        "predict",
        "finance_risk",
        "--server",
        finance_server.rest_url,
        "--input",
        str(applicants),
    ]

    assert main([*base, "--version", "1"]) == EXIT_OK
    assert main([*base, "--version", "2"]) == EXIT_FAILED
    assert "Servable not found for request: Specific(finance_risk, 2)" in capsys.readouterr().err
    assert main([*base, "--model-name", "credit"]) == EXIT_FAILED
    assert "Latest(credit)" in capsys.readouterr().err


def test_recommendations_print_items_as_text(capsys, tmp_path):
    model = export_toy_ranking_model(str(tmp_path / "toy" / "1"))
    users = tmp_path / "users.jsonl"
    users.write_text(
        json.dumps({"history": ["50", "172", "133", "9"], "exclude": ["50"]})
        + "\n\n"
        + json.dumps({"history": []})
        + "\n"
    )
    cert, key = write_self_signed_certificate(tmp_path)
    with StandInServer(model, "recommendation", tls=(cert, key)) as server:
        code = main(
            [
                "predict",
                "recommendation",
                "--server",
                server.grpc_url,
                "--input",
                str(users),
                "--tls-ca",
                str(cert),
            ]
        )

    assert code == EXIT_OK
    assert _printed(capsys) == [
        {
            "id": 1,
            "fallback": False,
            "items": ["50", "172", "133"],
            "scores": [0.25, 0.375, 0.375],
            "unknown_items": 1,
        },
        {
            "id": 3,
            "fallback": True,
            "items": ["", "", ""],
            "scores": [0.0, 0.0, 0.0],
            "unknown_items": 0,
        },
    ]


def test_an_image_folder_is_scored_file_by_file(capsys, tmp_path):
    from aet.pipelines.domains import load_domain

    config = load_domain("medical_imaging")
    model = export_toy_image_model(
        str(tmp_path / "toy" / "1"), config.features.image.name, config.features.label.classes
    )
    folder = tmp_path / "xrays"
    (folder / "normal").mkdir(parents=True)
    greys = {folder / "normal" / "a.png": 0, folder / "b.png": 51, folder / "c.png": 255}
    for path, grey in greys.items():
        Image.new("L", (4, 4), color=grey).save(path)

    with StandInServer(model, config.serving.model_name) as server:
        code = main(
            ["predict", "medical_imaging", "--server", server.rest_url, "--input", str(folder)]
        )

    assert code == EXIT_OK
    assert _printed(capsys) == [
        {"id": str(path), "probability": grey / 256} for path, grey in sorted(greys.items())
    ]


def test_an_image_bomb_exits_2_naming_the_file_and_sends_nothing(capsys, tmp_path):
    from aet.pipelines.domains import load_domain

    config = load_domain("medical_imaging")
    model = export_toy_image_model(
        str(tmp_path / "toy" / "1"), config.features.image.name, config.features.label.classes
    )
    folder = tmp_path / "xrays"
    folder.mkdir()
    Image.new("L", (4, 4)).save(folder / "a.png")
    (folder / "b.png").write_bytes(png_declaring(20000, 20000))

    with StandInServer(model, config.serving.model_name) as server:
        code = main(
            ["predict", "medical_imaging", "--server", server.rest_url, "--input", str(folder)]
        )
        received = server.received

    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{folder / 'b.png'}: declares more pixels than Pillow will open" in err
    assert received == []


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_explain_prints_reason_codes_with_each_records_values(
    capsys, finance_server, finance_config, applicants, serving_default, transport
):
    url = finance_server.rest_url if transport == "rest" else finance_server.grpc_url
    code = main(
        ["predict", "finance_risk", "--server", url, "--input", str(applicants), "--explain"]
    )

    assert code == EXIT_OK
    assert [request.signature for request in finance_server.received] == ["explain"]
    lines = _printed(capsys)
    expected = _in_process_probabilities(serving_default, applicants, finance_config, 64)
    np.testing.assert_allclose([line["probability"] for line in lines], expected, atol=1e-4)
    rows = read_rows(applicants, load_schema(finance_config), ROWS)
    features = finance_config.features
    for line, row in zip(lines, rows, strict=True):
        assert line["explained_class"] == features.label.classes[1]
        assert list(line["attributions"]) == features.input_names
        change = line["probability"] - line["baseline_probability"]
        assert abs(sum(line["attributions"].values()) - change) < 0.01
        assert line["unexplained"] < 0.01
        raised, lowered = line["raised_by"], line["lowered_by"]
        assert len(raised) + len(lowered) > 0 and max(len(raised), len(lowered)) <= 3
        assert all(reason["attribution"] > 0 for reason in raised)
        assert all(reason["attribution"] < 0 for reason in lowered)
        for reason in raised + lowered:
            assert reason["value"] == row[reason["feature"]]  # the applicant's own value
        # The strongest reasons are the largest attributions.
        ranked = sorted(line["attributions"].values(), reverse=True)
        if raised:
            assert raised[0]["attribution"] == ranked[0]


def test_explain_writes_a_heat_map_overlay_per_image(capsys, tmp_path):
    from aet.pipelines.domains import load_domain

    config = load_domain("medical_imaging")
    model = export_toy_image_model(
        str(tmp_path / "toy" / "1"), config.features.image.name, config.features.label.classes
    )
    folder = tmp_path / "xrays"
    folder.mkdir()
    Image.new("L", (28, 28), color=40).save(folder / "dark.png")
    Image.new("L", (28, 28), color=230).save(folder / "bright.png")
    overlays = tmp_path / "overlays"
    with StandInServer(model, config.serving.model_name) as server:
        code = main(
            [
                "predict", "medical_imaging", "--server", server.grpc_url, "--input", str(folder),
                "--explain", "--explanations-dir", str(overlays),
            ]
        )  # fmt: skip

    assert code == EXIT_OK
    bright, dark = _printed(capsys)  # sorted by path
    assert bright["explained_class"] == "pneumonia" and dark["explained_class"] == "normal"
    assert bright["probability"] == pytest.approx(230 / 256, abs=1e-4)
    assert dark["probability"] == pytest.approx(1 - 40 / 256, abs=1e-4)
    for line, name in ((bright, "00-bright.png"), (dark, "01-dark.png")):
        assert line["heat_map"] == TOY_HEAT_MAP
        assert line["heat_map_file"] == str(overlays / name)
        drawn = Image.open(line["heat_map_file"])
        assert drawn.format == "PNG" and drawn.size == (224, 224)
        # The hottest cell (bottom left) is drawn red, the coldest (top left) blue.
        pixels = np.asarray(drawn.convert("RGB"), dtype=int)
        hot, cold = pixels[150, 40], pixels[40, 40]
        assert hot[0] > hot[2] and cold[2] > cold[0]


def test_explain_names_the_history_items_behind_each_recommendation(capsys, tmp_path):
    model = export_toy_ranking_model(str(tmp_path / "toy" / "1"))
    users = tmp_path / "users.jsonl"
    users.write_text(json.dumps({"history": ["50", "172"]}) + "\n" + json.dumps({"history": []}))
    with StandInServer(model, "recommendation") as server:
        code = main(
            ["predict", "recommendation", "--server", server.rest_url, "--input", str(users),
             "--explain"]
        )  # fmt: skip

    assert code == EXIT_OK
    assert _printed(capsys) == [
        {
            "id": 1,
            "recommendations": [
                {"item": "50", "score": 0.25, "because": ["50"]},
                {"item": "172", "score": 0.375, "because": ["50"]},
            ],
            "unknown_items": 0,
            "fallback": False,
        },
        {"id": 2, "recommendations": [], "unknown_items": 0, "fallback": True},
    ]
