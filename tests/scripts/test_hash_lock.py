"""The lock is installed with --require-hashes: every pin carries the hashes of the files
Python 3.10 can install, and scripts/hash_lock.py keeps them right when a pin changes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCKS = [REPO / "requirements" / "lock.txt", REPO / "requirements" / "data.txt"]


def _load_script():
    spec = importlib.util.spec_from_file_location("hash_lock", REPO / "scripts" / "hash_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hash_lock = _load_script()


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_pin_of_the_lock_carries_a_hash(lock: Path) -> None:
    lines = lock.read_text().splitlines()
    pins = [index for index, line in enumerate(lines) if hash_lock.PIN.match(line)]
    assert pins, f"{lock} pins nothing"
    unhashed = [lines[index] for index in pins if "--hash=sha256:" not in lines[index + 1]]
    assert unhashed == [], f"pins without hashes in {lock.name}: {unhashed}"
    assert (
        "--require-hashes -r requirements/" + lock.name
        in (REPO / "scripts" / "bootstrap.sh").read_text()
    )


@pytest.mark.parametrize(
    ("filename", "locked"),
    [
        ("numpy-1.26.4-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("numpy-1.26.4-cp310-cp310-macosx_11_0_arm64.whl", True),
        ("numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        ("numpy-1.26.4-cp39-cp39-win_amd64.whl", False),
        ("cryptography-42.0.5-cp37-abi3-manylinux_2_28_x86_64.whl", True),
        ("six-1.16.0-py2.py3-none-any.whl", True),
        ("six-1.16.0.tar.gz", True),
        ("futures-3.4.0-py2-none-any.whl", False),
    ],
)
def test_only_files_python_3_10_installs_are_locked(filename: str, locked: bool) -> None:
    assert (hash_lock.file_version(filename) is not None) == locked


def test_rehashing_replaces_old_hashes_and_keeps_comments(monkeypatch) -> None:
    published = {("six", "1.16.0"): ["b" * 64, "a" * 64]}
    monkeypatch.setattr(hash_lock, "published_hashes", lambda n, v: sorted(published[(n, v)]))
    lines = ["# a comment", "six==1.16.0", "    --hash=sha256:" + "0" * 64]
    hashed = hash_lock.with_hashes([line.rstrip(" \\") for line in lines], "lock")
    assert hashed == [
        "# a comment",
        "six==1.16.0 \\",
        "    --hash=sha256:" + "a" * 64 + " \\",
        "    --hash=sha256:" + "b" * 64,
    ]
    again = hash_lock.with_hashes([line.rstrip(" \\") for line in hashed], "lock")
    assert again == hashed


def test_extras_and_markers_stay_in_the_pin(monkeypatch) -> None:
    monkeypatch.setattr(hash_lock, "published_hashes", lambda name, version: ["c" * 64])
    lines = ['apache-beam[gcp]==2.74.0; python_version < "3.11"  # the runner']
    hashed = hash_lock.with_hashes(lines, "lock")
    assert hashed[0] == 'apache-beam[gcp]==2.74.0; python_version < "3.11" \\'
    assert hashed[1] == "    --hash=sha256:" + "c" * 64
