"""Files that another process reads while this one may be writing them.

`write_atomically` is for every file a model server or a later run reads (models.config,
the batching file, reports, the run summary): a reader sees the old content or the new,
never a torn file, whatever stops the writer (Ctrl-C, SIGKILL, a full disk).
`FolderLock` keeps two runs from working in one folder at once. `sha256_of` tells two
files or folders apart by content (a model already served, a changed data package).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".aet.lock"
# Folders this process holds the lock of: flock would make a second lock of the same
# folder from this process wait on itself (say, --serving-dir inside --output's lock).
_HELD: set[str] = set()


def is_remote(path: str) -> bool:
    """A URI of an object store or other tf.io.gfile filesystem (gs://, s3://, ...)."""
    return "://" in path


def sha256_of(path: str) -> str:
    """The SHA-256 of a file (as `sha256sum` gives it), or of a folder: of each file's
    path inside it and of its content, in path order (hidden files too). Read in chunks,
    through tf.io.gfile where the path is remote."""
    if is_remote(path):
        import tensorflow as tf

        isdir, walk, opener = tf.io.gfile.isdir, tf.io.gfile.walk, tf.io.gfile.GFile
    else:
        isdir, walk, opener = os.path.isdir, os.walk, open
    files = (
        sorted(
            os.path.relpath(os.path.join(root, name), path)
            for root, _, names in walk(path)
            for name in names
        )
        if isdir(path)
        else [""]
    )
    digest = hashlib.sha256()
    for relative in files:
        if relative:
            digest.update(relative.encode() + b"\0")
        with opener(os.path.join(path, relative) if relative else path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def write_atomically(path: str, content: str | bytes) -> None:
    """Replaces `path` with `content` in one step: written to a temporary file beside it,
    flushed to disk, then renamed over it. If anything fails, `path` is as it was and
    no temporary file is left. On an object store (gs://, s3://) an object appears only
    once its upload completes, so it is written through tf.io.gfile directly."""
    data = content.encode() if isinstance(content, str) else content
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "wb") as handle:
            handle.write(data)
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777  # a replaced file keeps its permissions
    except FileNotFoundError:
        mode = 0o644
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)  # mkstemp creates it owner-only
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Makes the rename itself durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class FolderLocked(RuntimeError):
    """Another process holds the folder's lock; the message names it."""


class FolderLock:
    """An exclusive lock on a folder, held through an advisory lock (flock) on its
    `.aet.lock` file: the kernel releases it when the holder exits, however it exits,
    so a killed run leaves no stale lock. The file names the holder, for the message
    another process gets. Local folders only: flock means nothing on an object store,
    where the lock is skipped."""

    def __init__(self, folder: str | Path, purpose: str) -> None:
        self.folder = str(folder)
        self.purpose = purpose
        self._handle: int | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.folder, LOCK_FILE)

    def acquire(self, wait_s: float = 0.0) -> FolderLock:
        """Takes the lock, waiting up to `wait_s` seconds; raises FolderLocked naming
        the holder when it cannot."""
        if is_remote(self.folder):
            return self
        os.makedirs(self.folder, exist_ok=True)
        if os.path.realpath(self.folder) in _HELD:
            return self  # held by this process already; its release is the holder's
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(handle)
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(handle)
                    os.close(handle)
                    raise FolderLocked(
                        f"{self.folder} is in use by another aet process ({holder}); wait for "
                        f"it to finish, or use another folder for {self.purpose}"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(handle, 0)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(["aet", *sys.argv[1:3]]),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.pwrite(handle, json.dumps(holder).encode(), 0)
        self._handle = handle
        _HELD.add(os.path.realpath(self.folder))
        return self

    def release(self) -> None:
        if self._handle is not None:
            _HELD.discard(os.path.realpath(self.folder))
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            os.close(self._handle)
            self._handle = None


def _read_holder(handle: int) -> str:
    try:
        holder = json.loads(os.pread(handle, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "holder unknown"
    if not holder:
        return "holder unknown"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, "
        f"'{holder.get('command')}' since {holder.get('since')}"
    )


@contextlib.contextmanager
def locked(folder: str | Path, purpose: str, wait_s: float = 0.0) -> Iterator[FolderLock]:
    """`FolderLock(folder, purpose).acquire(wait_s)` for the length of a `with` block."""
    lock = FolderLock(folder, purpose).acquire(wait_s)
    try:
        yield lock
    finally:
        lock.release()
