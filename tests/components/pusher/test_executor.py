"""A push reaches the serving folder whole or not at all: a killed push leaves no
numbered version (which TF Serving would try to load) and the next push removes what
it left; two pushes in one second get two versions."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from aet.components.pusher import executor
from aet.components.pusher.executor import PARTIAL_PREFIX, push_model
from aet.config.contract import SERVING_EXTRAS

# Pushes the model folder in argv[1] to argv[2], forever, one push after the other.
PUSH_FOREVER = """
import sys
from aet.components.pusher.executor import push_model
while True:
    push_model(sys.argv[1], sys.argv[2])
"""


def _saved_model(folder: Path, files: int = 3, size: int = 1000) -> Path:
    (folder / "variables").mkdir(parents=True)
    for index in range(files):
        (folder / "variables" / f"shard-{index:04d}").write_bytes(b"w" * size)
    (folder / "saved_model.pb").write_bytes(b"graph")
    return folder


def _versions(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.name.isdigit())


def _complete(version: Path, model: Path) -> bool:
    return sorted(p.relative_to(version) for p in version.rglob("*")) == sorted(
        p.relative_to(model) for p in model.rglob("*")
    )


def test_two_pushes_in_one_second_get_two_whole_versions(tmp_path: Path) -> None:
    model = _saved_model(tmp_path / "model")
    base = tmp_path / "serving" / "finance_risk"
    first, first_path = push_model(str(model), str(base))
    second, second_path = push_model(str(model), str(base))
    assert int(second) > int(first)
    assert _versions(base) == sorted([first, second])
    assert _complete(Path(first_path), model) and _complete(Path(second_path), model)


def test_a_push_stopped_mid_copy_leaves_no_version_and_gives_back_its_space(
    tmp_path: Path, monkeypatch
) -> None:
    model = _saved_model(tmp_path / "model")
    base = tmp_path / "serving" / "finance_risk"
    copy_dir = io_utils.copy_dir

    def interrupted(source: str, destination: str, **kwargs) -> None:
        copy_dir(source, destination, **kwargs)
        (Path(destination) / "saved_model.pb").unlink()  # as if stopped before the last file
        raise KeyboardInterrupt

    monkeypatch.setattr(executor.io_utils, "copy_dir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        push_model(str(model), str(base))
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == []

    monkeypatch.setattr(executor.io_utils, "copy_dir", copy_dir)
    version, _ = push_model(str(model), str(base))
    assert _versions(base) == [version]


def test_a_push_killed_with_sigkill_never_leaves_a_partial_version(tmp_path: Path) -> None:
    model = _saved_model(tmp_path / "model", files=200, size=50_000)
    base = tmp_path / "serving" / "finance_risk"
    pusher = subprocess.Popen([sys.executable, "-c", PUSH_FOREVER, str(model), str(base)])
    deadline = time.monotonic() + 60
    while not (base.exists() and len(_versions(base)) >= 2):
        assert time.monotonic() < deadline and pusher.poll() is None
        time.sleep(0.01)
    while not [p for p in base.iterdir() if p.name.startswith(PARTIAL_PREFIX)]:
        time.sleep(0.001)  # kill it while a copy is under way
    pusher.send_signal(signal.SIGKILL)
    pusher.wait(timeout=30)

    assert all(_complete(base / version, model) for version in _versions(base))
    before = _versions(base)
    version, _ = push_model(str(model), str(base))
    assert _versions(base) == [*before, version]
    assert not [p for p in base.iterdir() if p.name.startswith(PARTIAL_PREFIX)]


def _blessing(baseline: str | None) -> dict:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", 1)
    if baseline is not None:
        blessing.set_string_custom_property(executor.BASELINE_MODEL_KEY, baseline)
    return {"model_blessing": [blessing]}


def test_a_model_judged_without_a_baseline_is_not_pushed_over_served_versions(
    tmp_path: Path,
) -> None:
    model = str(_saved_model(tmp_path / "model"))
    base = tmp_path / "serving" / "finance_risk"
    assert executor.refusal(_blessing(None), model, str(base)) is None  # nothing served yet
    (base / ".partial-7").mkdir(parents=True)
    assert executor.refusal(_blessing(None), model, str(base)) is None  # a killed push
    _saved_model(base / "5", files=1)
    _saved_model(base / "12", files=2)
    reason = executor.refusal(_blessing(None), model, str(base))
    assert str(base / "12") in reason and "without a baseline" in reason
    _saved_model(tmp_path / "baseline" / "Format-Serving", files=2)  # judged against 12
    assert executor.refusal(_blessing(str(tmp_path / "baseline")), model, str(base)) is None


def test_the_served_model_is_not_pushed_again_as_a_new_version(tmp_path: Path) -> None:
    model = _saved_model(tmp_path / "model")
    base = tmp_path / "serving" / "finance_risk"
    _, served = push_model(str(model), str(base))
    io_utils.copy_dir(served, str(tmp_path / "baseline" / "Format-Serving"))
    judged = _blessing(str(tmp_path / "baseline"))
    assert executor.refusal(judged, str(model), str(base)) == f"it is already served, as {served}"
    (model / SERVING_EXTRAS).mkdir()
    (model / SERVING_EXTRAS / "model_card.json").write_text('{"run": "a re-run"}')
    assert executor.refusal(judged, str(model), str(base)) == f"it is already served, as {served}"
    (model / "variables" / "shard-0001").write_bytes(b"retrained")
    assert executor.refusal(judged, str(model), str(base)) is None


def _with_warmup(folder: Path) -> Path:
    warmup = folder / SERVING_EXTRAS / "tf_serving_warmup_requests"
    warmup.parent.mkdir(parents=True, exist_ok=True)
    warmup.write_bytes(b"requests")
    return folder


def test_a_model_judged_against_another_than_the_served_one_is_not_pushed(
    tmp_path: Path,
) -> None:
    model = str(_saved_model(tmp_path / "model"))
    base = tmp_path / "serving" / "finance_risk"
    blessed = _saved_model(tmp_path / "blessed" / "Format-Serving", files=2)
    _, served = push_model(str(_with_warmup(blessed)), str(base))
    (blessed / SERVING_EXTRAS / "tf_serving_warmup_requests").unlink()  # the Trainer's has none
    judged_against_blessed = _blessing(str(tmp_path / "blessed"))
    assert executor.refusal(judged_against_blessed, model, str(base)) is None

    _saved_model(base / "9999999999", files=4)  # another output pushed while this one trained
    reason = executor.refusal(judged_against_blessed, model, str(base))
    assert str(base / "9999999999") in reason and "against another model" in reason
    assert str(blessed) in reason and "evaluation.baseline: none" in reason
    assert served != executor.newest_version(str(base))


def test_replacing_what_is_served_needs_no_baseline_but_never_pushes_it_again(
    tmp_path: Path,
) -> None:
    model = _saved_model(tmp_path / "model")
    base = tmp_path / "serving" / "finance_risk"
    _saved_model(base / "5", files=1)
    assert executor.refusal(_blessing(None), str(model), str(base), replace_served=True) is None
    _, served = push_model(str(model), str(base))
    reason = executor.refusal(_blessing(None), str(model), str(base), replace_served=True)
    assert reason == f"it is already served, as {served}"


def test_the_serving_extras_are_where_tfx_puts_the_warmup_file() -> None:
    from tfx.utils import path_utils

    assert Path(path_utils.warmup_file_path("")).parent == Path(SERVING_EXTRAS)
