"""Files another process reads while this one writes them: a reader sees the old content
or the new, never a torn file, whatever stops the writer; a folder's lock keeps a
second process out and dies with its holder."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aet.components.files import (
    LOCK_FILE,
    FolderLock,
    FolderLocked,
    locked,
    sha256_of,
    write_atomically,
)

HOLD_LOCK = """
import sys, time
from aet.components.files import FolderLock
FolderLock(sys.argv[1], "the test").acquire()
print("held", flush=True)
time.sleep(120)
"""

# Rewrites one file as fast as it can, alternating two contents of 2 MB each.
REWRITE_FOREVER = """
import sys
from aet.components.files import write_atomically
contents = [b"A" * 2_000_000, b"B" * 2_000_000]
write_atomically(sys.argv[1], contents[0])
print("writing", flush=True)
i = 0
while True:
    i += 1
    write_atomically(sys.argv[1], contents[i % 2])
"""


def start_holding(folder: Path) -> subprocess.Popen:
    """Another process that holds `folder`'s lock until it is killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != name)


def test_a_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "models.config"
    target.write_text("old")
    write_atomically(str(target), "new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert _leftovers(tmp_path, target.name) == []


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "run_summary.json"
    target.write_text("{}")
    target.chmod(0o600)
    write_atomically(str(target), "{}")
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_full_disk_keeps_the_old_file_and_says_so(tmp_path: Path, monkeypatch, failing) -> None:
    target = tmp_path / "models.config"
    target.write_text("old")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, no_space)
    with pytest.raises(OSError) as raised:
        write_atomically(str(target), "new")
    assert raised.value.errno == errno.ENOSPC
    assert target.read_text() == "old"
    assert _leftovers(tmp_path, target.name) == []


def test_a_reader_never_sees_a_torn_file_even_when_the_writer_is_killed(tmp_path: Path) -> None:
    target = tmp_path / "models.config"
    writer = subprocess.Popen(
        [sys.executable, "-c", REWRITE_FOREVER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "writing"
    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        content = target.read_bytes()
        assert len(content) == 2_000_000 and len(set(content)) == 1, "a torn file was read"
        seen.add(content[:1])
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    content = target.read_bytes()
    assert len(content) == 2_000_000 and len(set(content)) == 1
    assert seen == {b"A", b"B"}, "the writer was not rewriting the file while it was read"


def test_a_second_process_is_refused_the_lock_with_the_holders_name(tmp_path: Path) -> None:
    holder = start_holding(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(FolderLocked) as refused:
            FolderLock(tmp_path, "--output").acquire()
        assert time.monotonic() - started < 1
        message = str(refused.value)
        assert str(tmp_path) in message and f"pid {holder.pid}" in message
        assert "another folder for --output" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = start_holding(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_FILE).exists()
    with locked(tmp_path, "--output"):
        pass


def test_a_waiting_writer_gets_the_lock_once_the_holder_lets_go(tmp_path: Path) -> None:
    holder = start_holding(tmp_path)
    threading.Timer(0.5, holder.kill).start()
    started = time.monotonic()
    with locked(tmp_path, "--serving-dir", wait_s=30):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.4 < waited < 30


def test_a_process_may_lock_a_folder_it_already_holds(tmp_path: Path) -> None:
    with locked(tmp_path, "--output"), locked(tmp_path, "--serving-dir"):
        pass
    holder = start_holding(tmp_path)  # and it let go of it after both
    holder.kill()
    holder.wait()


def test_a_checksum_tells_files_and_folders_apart_by_content_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"x,y\n1,2\n")
    (folder / "sub" / "b.png").write_bytes(b"\x89PNG")
    first = sha256_of(str(folder))
    assert sha256_of(str(folder)) == first and len(first) == 64
    assert sha256_of(str(folder / "a.csv")) == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    (folder / "sub" / "b.png").rename(folder / "sub" / "c.png")  # same bytes, new name
    assert sha256_of(str(folder)) != first
    (folder / "sub" / "c.png").rename(folder / "sub" / "b.png")
    (folder / "a.csv").write_bytes(b"x,y\n1,3\n")
    assert sha256_of(str(folder)) != first
