"""recommendation end to end with the local runner: MovieLens 100K (the default data)
and a small log of another shape each go from interactions to a pushed model that
returns top-k items for a history; a malformed log fails before any component runs."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from aet.components.split_records import split_records
from aet.config.contract import HISTORY_ITEMS
from aet.pipelines.cli import main
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
from tests.serving.stand_in_server import StandInServer

pytestmark = pytest.mark.e2e

TINY_TRAINING = [
    "--set", "training.train_steps=16",
    "--set", "evaluation.thresholds={ndcg: {lower: 0.0}}",
]  # fmt: skip
CYCLE = 40  # the synthetic log's catalogue: users walk through it in order


@pytest.fixture(scope="module")
def movielens_run(tmp_path_factory) -> CliRun:
    """MovieLens 100K on a tiny step budget, tuned by the shipped Hyperband search (3
    epochs, so that a second round continues the first round's best weights)."""
    run = run_aet(
        "run",
        "recommendation",
        *TINY_TRAINING,
        "--set",
        "training.steps_per_epoch=2",
        "--set",
        "training.eval_steps=2",
        "--tune",
        *SMALL_SEARCH,
        "--set",
        "tuning.epochs_per_trial=3",
        output=tmp_path_factory.mktemp("ml"),
    )
    assert_succeeded(run)
    return run


def _walk_log(path: Path, users: int = 80, seed: int = 0, new_item: str | None = None) -> None:
    """Users who each watch items c0, c1, ... in a cycle from a random start: the next
    item follows from the last one, which a sequence model can learn and popularity
    cannot. Columns named differently from MovieLens, and comma-separated. With
    `new_item`, every user (new ones: a later span) starts with an item not seen before."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer", "product", "stars", "when"])
        for user in range(users):
            start = rng.randrange(CYCLE)
            items = [f"c{(start + step) % CYCLE}" for step in range(rng.randrange(6, 12))]
            for step, item in enumerate([new_item] * bool(new_item) + items):
                writer.writerow([f"u{seed}-{user}", item, 4, 1000 + step])


WALK_SETTINGS = (
        "--set", "data.columns={user: customer, item: product, rating: stars, timestamp: when}",
        "--set", "data.columns={user: customer, item: product, rating: stars, timestamp: when}",
        "--set", "features.sequence.max_length=12",
        "--set", "model.embedding_dim=16",
        "--set", "model.num_layers=1",
        "--set", "training.batch_size=16",
        "--set", "training.steps_per_epoch=5",
        "--set", "training.train_steps=150",
        "--set", "training.eval_steps=5",
        "--set", "training.sampled_softmax=5",
        "--set", "training.learning_rate=0.005",
        "--set", "training.elastic.learning_rate.warmup_steps=5",
        "--set", "training.elastic.attention_monitor.probe_examples=8",
        "--set", "evaluation.thresholds={ndcg: {lower: 0.3}}",
        "--set", "evaluation.sampled_negatives=5",
)  # fmt: skip


@pytest.fixture(scope="module")
def walk_run(tmp_path_factory) -> CliRun:
    folder = tmp_path_factory.mktemp("walk")
    log = folder / "walks.csv"
    _walk_log(log)
    run = run_aet(
        "run", "recommendation", "--data", str(log), *WALK_SETTINGS, output=folder / "run"
    )
    assert_succeeded(run)
    return run


def _recommend(pushed: str, histories: list[list[str]], exclude: list[list[str]]) -> dict:
    """The pushed model's `recommend` (JSON-friendly) signature: '' pads the rows."""

    def padded(rows: list[list[str]]) -> tf.Tensor:
        width = max(1, *(len(row) for row in rows))
        return tf.constant([row + [""] * (width - len(row)) for row in rows])

    serve = tf.saved_model.load(pushed).signatures["recommend"]
    return {
        k: v.numpy() for k, v in serve(history=padded(histories), exclude=padded(exclude)).items()
    }


def test_movielens_run_scores_the_model_beside_both_baselines(movielens_run: CliRun) -> None:
    summary = movielens_run.summary
    assert summary["status"] == "succeeded" and summary["blessed"] is True
    assert summary["ingestion"]["users"] == {"train": 943, "eval": 943, "test": 943}
    assert summary["ingestion"]["skipped_users"] == 0
    assert summary["ingestion"]["interactions"] == 100000
    overall = summary["metrics"]["overall"]
    for metric in ("ndcg", "hit_rate", "ndcg_sampled", "hit_rate_sampled", "coverage"):
        for output in ("", "[most_popular]", "[co_occurrence]"):
            assert 0.0 <= overall[metric + output] <= 1.0
    for output in ("", "[most_popular]", "[co_occurrence]"):
        assert overall["example_count" + output] == 943  # every test user, for all three
    # The baselines are what they say: popularity recommends the same few films to all
    # (less what each user has seen), co-occurrence follows each user's last films.
    assert overall["coverage[most_popular]"] < 0.1 < overall["coverage[co_occurrence]"]
    # The sampled protocol is the easier one: 100 negatives instead of ~1600 items.
    assert overall["ndcg_sampled[most_popular]"] > overall["ndcg[most_popular]"]


def test_the_run_report_shows_the_model_beside_its_baselines(movielens_run: CliRun) -> None:
    found = assert_report_shows_the_run(
        movielens_run, {"overview", "data", "training", "evaluation", "serving"}
    )
    for output in ("", "[most_popular]", "[co_occurrence]"):
        assert f"metrics|overall|ndcg{output}" in found["numbers"]


def test_the_movielens_run_tunes_with_hyperband_within_its_wall_clock(
    movielens_run: CliRun,
) -> None:
    tuning = assert_tuned_within_budget(movielens_run, "hyperband", "val_ndcg")
    assert len(tuning["trials"]) >= 2


def test_pushed_model_returns_top_k_and_excludes_what_it_is_asked_to(
    movielens_run: CliRun,
) -> None:
    pushed = movielens_run.summary["pushed_model_dir"]
    history = ["50", "172", "133", "181"]  # Star Wars, Empire, Gone with the Wind, Jedi
    plain = _recommend(pushed, [history], [[]])
    assert plain["items"].shape == (1, 10) and (plain["items"] != b"").all()
    assert np.all(np.diff(plain["scores"][0]) <= 0)  # best first
    excluding = _recommend(pushed, [history], [history])
    assert not set(history) & {item.decode() for item in excluding["items"][0]}
    assert not excluding["fallback"][0] and excluding["unknown_items"][0] == 0
    logs = assert_ready_for_tf_serving(
        movielens_run, {"serving_default": 2, "explain": 2, "recommend": 2}
    )
    # Checked against every history the run ingested: no warm-up history is a user's,
    # and no user id travels with them.
    ingested = {
        tuple(example.features.feature[HISTORY_ITEMS].bytes_list.value)
        for split in ("train", "eval", "test")
        for example in map(
            tf.train.Example.FromString,
            (r.numpy() for r in split_records(movielens_run.summary["examples_dir"], split)),
        )
    }
    sent = warmup_examples(logs)
    assert sent and all(set(example.features.feature) == {HISTORY_ITEMS} for example in sent)
    assert not {tuple(e.features.feature[HISTORY_ITEMS].bytes_list.value) for e in sent} & ingested


def test_aet_predict_through_a_model_server_answers_as_the_model_does(
    movielens_run: CliRun, tmp_path: Path, capsys
) -> None:
    """Histories as JSON lines -> tf.Examples -> serving_default over gRPC (a stand-in
    TF Serving holding the pushed version) give the `recommend` signature's answers."""
    pushed = Path(movielens_run.summary["pushed_model_dir"])
    history = ["50", "172", "133"]
    # Excluding the model's own first picks must change its answer, whatever it learnt.
    first_picks = [item.decode() for item in _recommend(str(pushed), [history], [[]])["items"][0]]
    records = [
        {"history": history},
        {"history": history, "exclude": first_picks[:3]},
        {"history": ["no-such-film"]},
    ]
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps(record) + "\n" for record in records))
    with StandInServer(str(pushed), "recommendation", version=int(pushed.name)) as server:
        code = main(
            ["predict", "recommendation", "--server", server.grpc_url, "--input", str(users)]
        )
    assert code == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in printed] == [1, 2, 3]
    for line, record in zip(printed, records, strict=True):
        expected = _recommend(str(pushed), [record["history"]], [record.get("exclude", [])])
        assert line["items"] == [item.decode() for item in expected["items"][0]]
        assert line["fallback"] == bool(expected["fallback"][0])
    assert printed[0]["items"] == first_picks
    assert not set(first_picks[:3]) & set(printed[1]["items"])  # the exclusion reached it
    assert printed[2]["unknown_items"] == 1 and printed[2]["fallback"] is True


def test_unknown_items_and_an_empty_history_get_an_answer(movielens_run: CliRun) -> None:
    pushed = movielens_run.summary["pushed_model_dir"]
    answer = _recommend(
        pushed,
        [["50", "no-such-film", "172"], ["no-such-film"], []],
        [[], [], []],
    )
    assert answer["unknown_items"].tolist() == [1, 1, 0]
    # Unknown ids are dropped, not fed to the model: the same answer as without them.
    known_only = _recommend(pushed, [["50", "172"]], [[]])
    assert answer["items"][0].tolist() == known_only["items"][0].tolist()
    # Nothing known left: the most popular items, flagged as a fallback.
    assert answer["fallback"].tolist() == [False, True, True]
    assert answer["items"][1].tolist() == answer["items"][2].tolist()
    assert (answer["items"] != b"").all()


def test_a_sequence_model_beats_popularity_on_a_log_of_another_shape(walk_run: CliRun) -> None:
    summary = walk_run.summary
    assert summary["blessed"] is True and summary["pushed_model_dir"]
    assert summary["ingestion"]["catalogue"] == CYCLE
    overall = summary["metrics"]["overall"]
    assert overall["ndcg"] >= 0.3
    assert overall["ndcg"] > 2 * overall["ndcg[most_popular]"]
    # The next item of a walk follows its last item, so the model names it.
    answer = _recommend(summary["pushed_model_dir"], [["c3", "c4", "c5"]], [[]])
    assert answer["items"][0][0] == b"c6"
    # `explain` gives the same answer with reasons drawn from the history, strongest
    # first. (Which item leads is the method's measured property, not asserted here:
    # on this model gradient x input credits c4, not c5; see the benchmark.)
    example = tf.train.Example()
    example.features.feature[HISTORY_ITEMS].bytes_list.value.extend([b"c3", b"c4", b"c5"])
    explain = tf.saved_model.load(summary["pushed_model_dir"]).signatures["explain"]
    explained = explain(examples=tf.constant([example.SerializeToString()]))
    assert explained["items"].numpy()[0][0] == b"c6"
    because = explained["because"].numpy()[0][0]
    weights = explained["contributions"].numpy()[0][0]
    assert because[0] != b"" and set(because) <= {b"c3", b"c4", b"c5", b""}
    assert np.all(np.diff(weights) <= 0) and np.all(weights[because != b""] > 0)


@pytest.fixture(scope="module")
def walk_second_span(walk_run: CliRun) -> CliRun:
    """A later span of walks into the same output (after the walk test read the first
    run's summary): new users, and one item the first span never had."""
    log = walk_run.output.parent / "walks-later.csv"
    _walk_log(log, users=60, seed=1, new_item="n0")
    later = run_aet(
        "run", "recommendation", "--data", str(log), *WALK_SETTINGS, output=walk_run.output
    )
    assert_succeeded(later)
    return later


def test_a_recommender_warm_starts_on_a_new_span_with_its_items_remapped(
    walk_second_span: CliRun,
) -> None:
    summary = walk_second_span.summary
    assert summary["span"] == 2
    warm = {e["what"]: e for e in summary["training"]["events"] if e["callback"] == "WarmStart"}
    assert set(warm) == {"weights", "epochs"}
    assert "served_baseline" in warm["weights"]["to"]
    assert warm["epochs"]["to"] == max(1, round(warm["epochs"]["from"] / 2))
    # Padding, the CYCLE walk items and the out-of-vocabulary row carry over; n0 is new.
    assert f"item_embedding ({CYCLE + 2} rows)" in warm["weights"]["why"]
    # Judged against the served model on the new span's held-out histories.
    assert summary["baseline_metrics"]["ndcg"] > 0
    assert summary["metrics"]["overall"]["ndcg"] >= 0.3


def test_a_malformed_log_fails_before_the_pipeline_naming_the_line(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,rating,timestamp\nu1,i1,4,100\nu1,i2,four,101\n")
    run = run_aet("run", "recommendation", "--data", str(log), output=tmp_path / "run")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{log}:3: column 'rating': 'four' is not a finite number" in run.stderr
    assert not (tmp_path / "run" / "tfx").exists()  # no component ran
