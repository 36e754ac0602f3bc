"""A serving root on a disk that really fills up: a small tmpfs, mounted in a user and
mount namespace of its own (`unshare`), so no privileges are needed. A push that does
not fit and a models.config that cannot be written both fail with ENOSPC, leave every
served file as it was and nothing half-written beside them, and the next push, once
there is room, succeeds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

# Runs inside the namespace, with the tmpfs mounted on argv[1]; prints what it saw.
SCENARIO = r"""
import errno, json, os, sys
from pathlib import Path
from aet.components.export.server_config import write_server_configs
from aet.components.files import sha256_of
from aet.components.pusher.executor import push_model
from aet.config import BatchingConfig

root = Path(sys.argv[1])
work = Path(sys.argv[2])
base = root / "finance_risk"


def model(folder, size):
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(size))
    (folder / "saved_model.pb").write_bytes(b"graph")
    return str(folder)


def configs():
    return write_server_configs(str(root), "finance_risk", 2, BatchingConfig(), "/models")


# How a step failed: the error's type, and whether it says the disk is full
# (tf.io.gfile raises ResourceExhaustedError where the os module raises ENOSPC).
def attempt(step):
    try:
        step()
    except Exception as exc:
        full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc)
        return [type(exc).__name__, full]
    return "ok"


def served():
    return {
        str(path.relative_to(root)): sha256_of(str(path))
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != ".aet.lock"
    }


seen = {}
first, _ = push_model(model(work / "small", 20_000), str(base))
configs()
before = served()
big = model(work / "big", 600_000)
seen["push_too_big"] = attempt(lambda: push_model(big, str(base)))
seen["after_push"] = served() == before
seen["left_in_model_folder"] = sorted(
    p.name for p in base.iterdir() if not p.name.isdigit() and p.name != ".aet.lock"
)

(root / "recommendation" / "7").mkdir(parents=True)  # another domain's push: a new entry
(root / "recommendation" / "7" / "saved_model.pb").write_bytes(b"graph")
before = served()
filler = root / "filler"
descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
try:
    while os.write(descriptor, b"\0" * 4096):
        pass
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
os.close(descriptor)
seen["write_configs_on_full_disk"] = attempt(configs)
seen["after_configs"] = served() == {**before, "filler": sha256_of(str(filler))}
seen["left_in_root"] = sorted(p.name for p in root.iterdir() if p.name.startswith("."))

filler.unlink()
second, _ = push_model(model(work / "retrained", 200_000), str(base))
configs()
seen["versions"] = sorted(p.name for p in base.iterdir() if p.name != ".aet.lock")
seen["pushed"] = [first, second]
seen["models_config"] = (root / "models.config").read_text()
print(json.dumps(seen))
"""

MOUNT = 'mount -t tmpfs -o size=512k aet-full "$1" && exec "$0" -c "$2" "$1" "$3"'


@pytest.fixture(scope="module")
def full_disk_run(tmp_path_factory) -> dict:
    if shutil.which("unshare") is None:
        pytest.skip("util-linux's unshare is not installed")
    folder = tmp_path_factory.mktemp("full_disk")
    (folder / "tmpfs").mkdir()
    (folder / "work").mkdir()
    namespace = ["unshare", "--user", "--map-root-user", "--mount"]
    mount = f"mount -t tmpfs -o size=64k aet-probe {folder / 'tmpfs'}"
    probe = subprocess.run([*namespace, "sh", "-c", mount], capture_output=True)
    if probe.returncode:
        pytest.skip(f"no tmpfs in a user namespace here: {probe.stderr.decode().strip()}")
    mounted = [sys.executable, str(folder / "tmpfs"), SCENARIO, str(folder / "work")]
    run = subprocess.run(
        [*namespace, "sh", "-c", MOUNT, *mounted],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_push_that_does_not_fit_fails_and_leaves_the_served_files_alone(full_disk_run) -> None:
    assert full_disk_run["push_too_big"] == ["ResourceExhaustedError", True]
    assert full_disk_run["after_push"], "a served file changed"
    assert full_disk_run["left_in_model_folder"] == [], "the failed copy was left behind"


def test_a_models_config_that_cannot_be_written_keeps_the_old_one(full_disk_run) -> None:
    assert full_disk_run["write_configs_on_full_disk"] == ["OSError", True]
    assert full_disk_run["after_configs"], "models.config or the batching file changed"
    assert full_disk_run["left_in_root"] == [".aet.lock"], "a temporary file was left"


def test_once_there_is_room_the_next_push_is_served(full_disk_run) -> None:
    first, second = full_disk_run["pushed"]
    assert full_disk_run["versions"] == sorted([first, second])
    assert "/models/finance_risk" in full_disk_run["models_config"]
    assert "/models/recommendation" in full_disk_run["models_config"]
