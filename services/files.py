"""Files sent in conversations (an agent's reply, a web chat visitor's message): what kind
each is, the name it is shown and served under, and how a message carries it. The bytes
are kept by the store (``add_file``, ``track_inbound_with_file``) and served by
``admin_app/files.py`` at ``/files/<id>/<name>``."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
import uuid
from typing import Any

from services.models import FILE_NAME_MAX

# What a browser shows inline and Messenger takes as that kind of attachment; any other
# type is a "file": downloaded, never shown.
INLINE_KINDS = {
    "image/png": "image", "image/jpeg": "image", "image/gif": "image", "image/webp": "image",
    "video/mp4": "video", "video/webm": "video", "video/quicktime": "video",
    "audio/mpeg": "audio", "audio/mp4": "audio", "audio/aac": "audio", "audio/ogg": "audio",
    "audio/wav": "audio", "audio/webm": "audio",
}
# What a multipart upload adds to the file (boundary, part headers, the name, a caption):
# a route taking files lets its body be this much larger than its file limit.
MULTIPART_ENVELOPE = 64 * 1024
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def attachment_kind(content_type: str) -> str:
    """``image``, ``video``, ``audio`` (shown inline, sent to Messenger as such) or ``file``."""
    return INLINE_KINDS.get(content_type, "file")


def media_type(declared: str | None) -> str:
    """The declared type without its parameters, lower case; ``application/octet-stream``
    for anything that is not a media type."""
    value = (declared or "").split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.match(value) else "application/octet-stream"


def file_name(declared: str | None) -> str:
    """A name to show and serve: the last part of a path, without control characters or
    characters a URL or a file system could misread, at most ``FILE_NAME_MAX`` characters
    (the extension kept); ``file`` when nothing is left."""
    name = re.split(r"[\\/]", unicodedata.normalize("NFC", declared or ""))[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in '"<>?#%*|:')
    name = " ".join(name.split()).strip(" .")
    if len(name) > FILE_NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and 0 < len(ext) <= 16 else ""
        name = name[:FILE_NAME_MAX - len(keep) - 1].rstrip() + "." + keep if keep \
            else name[:FILE_NAME_MAX]
    return name or "file"


def attachment(file_id: str, name: str, content_type: str, size: int, url: str) -> dict[str, Any]:
    """How a message carries a stored file: its kind, its absolute address (Messenger
    fetches it from there), its name, type and size."""
    return {"type": attachment_kind(content_type), "url": url, "name": name,
            "content_type": content_type, "size": size, "file_id": file_id}


def size_text(size: int) -> str:
    """A size as people read it: "900 bytes", "4 KB", "2.5 MB"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def derived_file_id(secret: str, *parts: str) -> str:
    """A file id made from what names the message that carries it (a visitor and their
    message's client id): sent again, the message names the same file. Keyed with the
    server's secret, so it is as hard to guess as a random one."""
    digest = hmac.new(secret.encode(), "\x00".join(parts).encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))
