"""Writes the SHA-256 of every published file of each pinned package into a lock file,
so that `pip install --require-hashes` installs exactly the files that were locked.

pip-compile's `--generate-hashes` would re-resolve the pins, and this lock cannot be
resolved: it is TFX's known-good freeze, installed with --no-deps because some of its
pins contradict their packages' own requirements. So the hashes are read per pin from
the index's JSON simple API (PEP 691): every file of the pinned version that Python 3.10
can install (the sdist and each platform's wheels for CPython 3.10), so the lock holds
for Linux, macOS and Windows alike.

    .venv/bin/python scripts/hash_lock.py requirements/lock.txt requirements/data.txt

Run it after changing a pin; it rewrites the files in place and keeps their comments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

# name[extras]==version; markers, comments and hashes after it are not part of the pin.
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s;#\\]+)"
    r"(?P<markers>\s*;[^#\\]*)?"
)
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
PYTHON = (3, 10)  # the lock's Python (.python-version)


def installable(tag: Tag) -> bool:
    """Whether a wheel tag is one CPython 3.10 installs, on the tag's own platform."""
    platforms = [tag.platform]
    return tag in {
        *cpython_tags(PYTHON, platforms=platforms),
        *compatible_tags(PYTHON, platforms=platforms),
    }


def file_version(filename: str) -> tuple[str, Version] | None:
    """The (name, version) a distribution file is of, or None for a file Python 3.10
    does not install."""
    try:
        if filename.endswith(".whl"):
            name, version, _, tags = parse_wheel_filename(filename)
            if not any(installable(tag) for tag in tags):
                return None
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return name, version


def published_hashes(name: str, version: str) -> list[str]:
    """The sha256 of each file the index holds for `name==version`, sorted."""
    request = urllib.request.Request(
        f"{INDEX}/{canonicalize_name(name)}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    wanted = (canonicalize_name(name), Version(version))
    hashes = sorted(
        entry["hashes"]["sha256"]
        for entry in files
        if file_version(entry["filename"]) == wanted and "sha256" in entry["hashes"]
    )
    if not hashes:
        raise SystemExit(f"error: {INDEX} has no files for {name}=={version}")
    return hashes


def with_hashes(lines: list[str], progress: str) -> list[str]:
    """The lock's lines with each pin followed by its hashes (old hashes dropped)."""
    pins = [line for line in lines if PIN.match(line)]
    out: list[str] = []
    done = 0
    for line in lines:
        if line.lstrip().startswith("--hash="):
            continue
        match = PIN.match(line)
        if not match:
            out.append(line)
            continue
        done += 1
        print(f"{progress}: {done}/{len(pins)} {match['name']}", file=sys.stderr)
        hashes = published_hashes(match["name"], match["version"])
        out.append(f"{match.group(0).rstrip()} \\")
        out.extend(
            f"    --hash=sha256:{digest}" + (" \\" if index < len(hashes) - 1 else "")
            for index, digest in enumerate(hashes)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locks", nargs="+", help="requirements files pinned with ==")
    for path in parser.parse_args(argv).locks:
        with open(path, encoding="utf-8") as handle:
            lines = [line.rstrip("\n").rstrip(" \\") for line in handle]
        hashed = with_hashes(lines, path)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(hashed) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
