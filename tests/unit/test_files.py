"""What a file is called, typed and numbered (``services/files.py``)."""

from __future__ import annotations

import uuid

import pytest

from services.files import (
    attachment_kind,
    derived_file_id,
    file_name,
    media_type,
    size_text,
)


@pytest.mark.parametrize("declared, name", [
    ("quote.pdf", "quote.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ann\\Desktop\\photo 1.JPG", "photo 1.JPG"),
    ('Quote: "7"?.pdf', "Quote 7.pdf"),
    ("  spaced \t out  name.txt ", "spaced out name.txt"),
    ("bell\x07and\x00nul.png", "bellandnul.png"),
    ("a\u202eevil.exe", "aevil.exe"),  # a right-to-left override would disguise the type
    ("...", "file"),
    ("", "file"),
    (None, "file"),
    ("x" * 300 + ".tar.gz", "x" * 197 + ".gz"),
    ("y" * 300, "y" * 200),
    ("e\u0301te\u0301.png", "\u00e9t\u00e9.png"),  # one form of each letter (NFC)
])
def test_file_names_are_cleaned(declared, name):
    assert file_name(declared) == name
    assert len(file_name(declared)) <= 200


@pytest.mark.parametrize("declared, media", [
    ("image/png", "image/png"),
    ("Image/PNG; charset=binary", "image/png"),
    ("text/html; charset=utf-8", "text/html"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("", "application/octet-stream"),
    (None, "application/octet-stream"),
    ("not a type", "application/octet-stream"),
    ("image/png\r\nX-Evil: 1", "application/octet-stream"),
])
def test_declared_types_are_media_types_or_octet_streams(declared, media):
    assert media_type(declared) == media


def test_only_what_browsers_show_safely_is_shown():
    assert [attachment_kind(t) for t in ("image/png", "image/jpeg", "video/mp4", "audio/mpeg")] \
        == ["image", "image", "video", "audio"]
    for risky in ("image/svg+xml", "text/html", "application/pdf", "application/javascript",
                  "application/octet-stream"):
        assert attachment_kind(risky) == "file"


def test_sizes_as_people_read_them():
    assert [size_text(n) for n in (0, 900, 1024, 4096, 1536 * 1024, 5 * 1024 * 1024)] == [
        "0 bytes", "900 bytes", "1 KB", "4 KB", "1.5 MB", "5.0 MB"]


def test_a_derived_file_id_is_the_same_for_the_same_message_and_secret_only():
    first = derived_file_id("secret", "v_visitor", "client-1")
    assert first == derived_file_id("secret", "v_visitor", "client-1")
    assert uuid.UUID(first).version == 4
    others = {derived_file_id("secret", "v_visitor", "client-2"),
              derived_file_id("secret", "v_other", "client-1"),
              derived_file_id("another secret", "v_visitor", "client-1"),
              derived_file_id("secret", "v_visitor\x00client", "1")}
    assert first not in others and len(others) == 4
