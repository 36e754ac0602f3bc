"""Images that are small on disk and huge once decoded, for the size-limit tests."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed grey PNG declaring `width` x `height`, with only its first row of
    pixels (zeros) behind the header: 99 bytes for 20000x20000, which would decode to
    400 megapixels (1.6 GB as floats)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    first_row = zlib.compress(b"\x00" * (width + 1), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", first_row)
        + _chunk(b"IEND", b"")
    )


def real_png(path: Path, width: int, height: int) -> Path:
    """A complete, decodable grey PNG of `width` x `height` (all black, so it stays
    small on disk: a 144-megapixel one is about 140 KB)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path
