"""Small real files for tests that upload them: a PNG a browser can show."""

from __future__ import annotations

import struct
import zlib


def tiny_png(width: int = 24, height: int = 16, rgb: bytes = b"\x34\x57\xd5") -> bytes:
    """A real PNG of one colour, ``width`` by ``height`` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
