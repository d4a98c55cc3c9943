"""Hypothesis strategies for Messenger webhook bodies, each with the messages it must store.

Every generated event is built as valid or broken by one known mutation, so the messages a
body must leave in the store are computed here from the generated values, from the
Messenger rules (README), never by calling the parser: a valid message event stores one
message under its mid; an echo stores an agent message in the recipient's conversation
unless it is one of ours (``metadata`` starting ``switchboard:``); a postback stores a
message under its mid (or ``postback:<sender>:<ms>``); a standby event is stored without a
``respond`` job; everything else stores nothing. Text is stored without NUL characters and
with lone surrogates as U+FFFD.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

PAGE = "1234567890"
T0 = 1_795_608_000_000  # ms
MAX_USER_ID, MAX_MID = 256, 512
_SURROGATE = re.compile("[\ud800-\udfff]")
# Names the parser reads: generated noise keys never use them (after cleaning).
KNOWN = {"object", "entry", "id", "time", "messaging", "standby", "sender", "recipient",
         "timestamp", "message", "postback", "delivery", "read", "reaction", "mid", "text",
         "attachments", "quick_reply", "reply_to", "is_echo", "app_id", "metadata", "title",
         "payload", "referral", "watermark", "mids", "action", "emoji", "type", "url"}


def stored_text(value: str) -> str:
    """How a string is stored: NUL dropped, lone surrogates replaced. It travels as JSON
    escapes first, so a high surrogate followed by a low one arrives as the one character
    the pair encodes (``"\\ud800\\udc00"`` is U+10000), not as two lone halves."""
    decoded = json.loads(json.dumps(value))
    return _SURROGATE.sub("\ufffd", decoded.replace("\x00", ""))


@dataclass(frozen=True)
class Expected:
    """A message a body must store."""

    external_id: str
    external_user_id: str
    sender_type: str
    content: str
    respond: bool
    ms: int  # events are applied in timestamp order


# -- building blocks -----------------------------------------------------------------------
# Any code point, lone surrogates (sent as \\udxxx escapes by json.dumps) and NUL included,
# with some right-to-left text and emoji mixed in.
# (Built from lists: st.text() never yields surrogates.)
_char = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(["\x00", "\u202e", "\u200f", "\u05d0", "\u0627", "\U0001f600",
                     "\ufeff", "\ud800", "\udbff", "\udc00", "\udfff", "%", "'", '"', "\\"]),
)
any_text = st.lists(_char, max_size=40).map("".join)
huge_text = st.integers(min_value=10_000, max_value=60_000).map(lambda n: "\u00e9x" * (n // 2))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True), any_text)
noise_key = any_text.filter(lambda k: stored_text(k) not in KNOWN)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(noise_key, inner, max_size=4)),
    max_leaves=12,
)
deep_value = st.integers(min_value=30, max_value=600).map(
    lambda depth: json.loads("[" * depth + "1" + "]" * depth))
noise = st.dictionaries(noise_key, st.one_of(json_value, deep_value), max_size=3)
not_an_object = st.one_of(json_scalar, st.lists(json_scalar, max_size=3))


def _user_id(draw) -> tuple[Any, str | None]:
    """An id as sent, and as parsed (None: empty, so no id at all)."""
    kind = draw(st.sampled_from(["digits", "int", "text", "long"]))
    if kind == "int":
        value = draw(st.integers(min_value=0, max_value=2**64))
        return value, str(value)
    if kind == "digits":
        value = str(draw(st.integers(min_value=1, max_value=10**16)))
    elif kind == "text":
        value = draw(any_text)
    else:
        value = "p" * draw(st.integers(min_value=200, max_value=300))
    return value, stored_text(value) or None


def fits(user_id: str | None) -> bool:
    """Whether a parsed id can name a person (a conversation's external_user_id)."""
    return user_id is not None and len(user_id) <= MAX_USER_ID


def _timestamp(draw) -> tuple[Any, int]:
    """A valid Facebook timestamp and its value in ms."""
    ms = T0 + draw(st.integers(min_value=-10**9, max_value=10**9))
    form = draw(st.sampled_from(["ms", "seconds", "string", "float"]))
    if form == "seconds":
        return ms // 1000, (ms // 1000) * 1000
    if form == "string":
        return str(ms), ms
    if form == "float":
        return float(ms), ms
    return ms, ms


BAD_TIMESTAMPS = st.one_of(
    st.booleans(), st.sampled_from(["", "soon", "1e400", "-5", "nan"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(noise_key, json_scalar, max_size=1),
    st.integers(max_value=-1), st.just(10**30))


def _text_value(draw) -> tuple[Any, str | None]:
    """A message text as sent and its stored content (None: the event is invalid)."""
    kind = draw(st.sampled_from(["text"] * 10 + ["huge", "none", "int", "float", "bad"]))
    if kind == "text":
        value = draw(any_text)
        return value, stored_text(value)
    if kind == "huge":
        value = draw(huge_text)
        return value, value
    if kind == "none":
        return None, ""
    if kind == "int":
        value = draw(st.integers(min_value=-(10**20), max_value=10**20))
        return value, str(value)
    if kind == "float":
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
        return value, str(value)
    return draw(st.one_of(st.booleans(), st.lists(json_scalar, max_size=2),
                          st.dictionaries(noise_key, json_scalar, max_size=2))), None


def _attachments(draw) -> tuple[Any, bool]:
    """An attachments value, and whether a message carrying it is valid."""
    kind = draw(st.sampled_from(
        ["none"] * 4 + ["valid"] * 4 + ["not_list", "no_type", "not_dict"]))
    if kind == "none":
        return draw(st.sampled_from([None, []])), True
    if kind == "not_list":
        # Truthy: an empty value counts as "no attachments".
        return draw(st.one_of(st.text(min_size=1, max_size=5), st.integers().filter(bool),
                              st.dictionaries(noise_key, json_scalar, min_size=1,
                                              max_size=2))), False
    if kind == "no_type":
        return [{"payload": {"url": "https://x.example/a.png"}}], False
    if kind == "not_dict":
        return [draw(json_scalar)], False
    items = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        payload = {"url": draw(st.one_of(any_text, st.just("https://cdn.example/i.png")))}
        payload.update(draw(noise))
        if draw(st.booleans()):
            payload["coordinates"] = {"lat": draw(st.floats()), "long": draw(json_scalar)}
        if draw(st.booleans()):
            payload["sticker_id"] = draw(st.one_of(st.integers(), any_text))
        items.append({"type": draw(any_text), "payload": draw(st.one_of(
            st.just(payload), json_scalar))})
    return items, True


# -- events --------------------------------------------------------------------------------
@st.composite
def message_event(draw, n: int, standby: bool):
    """A message (or echo) event for item ``n`` of a body, and what it must store."""
    sender, sender_stored = _user_id(draw)
    recipient, recipient_stored = _user_id(draw)
    stamp, ms = _timestamp(draw)
    mid_kind = draw(st.sampled_from(["text"] * 12 + ["too_long", "nul"]))
    mid = {"text": f"{draw(any_text)}#{n}", "too_long": f"m_{n}_" + "x" * 600,
           "nul": "\x00"}[mid_kind]
    text, content = _text_value(draw)
    attachments, attachments_ok = _attachments(draw)
    echo = draw(st.integers(min_value=0, max_value=4)) == 0
    ours = echo and draw(st.booleans())
    message: dict[str, Any] = {"mid": mid}
    if text is not None or draw(st.booleans()):
        message["text"] = text
    if attachments is not None:
        message["attachments"] = attachments
    if draw(st.booleans()):
        message["quick_reply"] = draw(st.one_of(
            st.fixed_dictionaries({"payload": st.one_of(any_text, st.integers())}),
            json_scalar))
    if draw(st.booleans()):
        message["reply_to"] = draw(st.one_of(
            st.fixed_dictionaries({"mid": st.one_of(any_text, st.integers())}), json_scalar))
    if echo:
        message["is_echo"] = True
        message["metadata"] = ("switchboard:" + draw(any_text)) if ours else draw(
            st.one_of(any_text, st.none()))
    message.update(draw(noise))
    event: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": recipient},
                             "timestamp": stamp, "message": message}
    event.update(draw(noise))

    mid_stored = stored_text(mid)
    person = recipient_stored if echo else sender_stored
    valid = (sender_stored is not None and recipient_stored is not None and fits(person)
             and content is not None and attachments_ok and 1 <= len(mid_stored) <= MAX_MID)
    broken = draw(st.sampled_from(
        ["none"] * 14 + ["sender", "recipient", "timestamp", "message", "mid", "mid_type"]))
    if broken == "sender":
        event["sender"] = draw(st.one_of(json_scalar, st.fixed_dictionaries(
            {"id": st.one_of(st.booleans(), st.just(""), st.lists(st.integers(), max_size=1))})))
        valid = False
    elif broken == "recipient":
        # The entry carries no id either (see body()), so nothing names the Page.
        event["recipient"] = draw(st.one_of(st.just({}), st.just({"id": None}), json_scalar))
        valid = False
    elif broken == "timestamp":
        event["timestamp"] = draw(BAD_TIMESTAMPS)
        valid = False
    elif broken == "message":
        event["message"] = draw(not_an_object)
        valid = False
    elif broken == "mid":
        del message["mid"]
        valid = False
    elif broken == "mid_type":
        message["mid"] = draw(st.one_of(st.integers(), st.booleans(), st.lists(any_text,
                                                                               max_size=1)))
        valid = False
    if not valid or ours:
        return event, None
    if echo:
        return event, Expected(mid_stored, recipient_stored, "agent", content, False, ms)
    return event, Expected(mid_stored, sender_stored, "user", content, not standby, ms)


@st.composite
def postback_event(draw, n: int, standby: bool):
    """A postback tap, with or without a mid."""
    sender, sender_stored = _user_id(draw)
    ms = T0 + n + draw(st.integers(min_value=0, max_value=10**6))
    title = draw(st.one_of(any_text, st.none()))
    payload = draw(st.one_of(any_text, st.none()))
    postback: dict[str, Any] = {"title": title, "payload": payload}
    with_mid = draw(st.booleans())
    if with_mid:
        postback["mid"] = f"pb-{draw(any_text)}#{n}"
    postback.update(draw(noise))
    event = {"sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": ms,
             "postback": postback}
    if not fits(sender_stored):
        return event, None
    external_id = stored_text(postback["mid"]) if with_mid else f"postback:{sender_stored}:{ms}"
    if len(external_id) > MAX_MID:
        return event, None
    # The title, else the payload, whichever is non-empty once stored.
    content = stored_text(title or "") or stored_text(payload or "")
    return event, Expected(external_id, sender_stored, "user", content, not standby, ms)


@st.composite
def other_event(draw, n: int):
    """Receipts, reactions, unknown kinds and junk items: they store no message."""
    envelope = {"sender": {"id": f"other-{n}"}, "recipient": {"id": PAGE}, "timestamp": T0 + n}
    kind = draw(st.sampled_from(["delivery", "read", "reaction", "optin", "junk", "junk_dict"]))
    if kind == "delivery":
        return {**envelope, "delivery": {"watermark": draw(st.one_of(json_scalar, st.just(T0))),
                                         "mids": draw(json_value)}}
    if kind == "read":
        return {**envelope, "read": draw(st.one_of(json_value, st.just({"watermark": T0})))}
    if kind == "reaction":
        return {**envelope, "reaction": {"mid": draw(any_text), "action": draw(st.sampled_from(
            ["react", "unreact", "nope"])), "emoji": draw(any_text), "reaction": draw(json_value)}}
    if kind == "optin":
        return {**envelope, "optin": draw(json_value)}
    if kind == "junk_dict":
        return draw(st.dictionaries(noise_key, json_value, max_size=4))
    return draw(not_an_object)


@st.composite
def page_body(draw):
    """A Page webhook body (as a Python value) and the messages it must store."""
    expected: list[tuple[int, Expected]] = []
    entries: list[Any] = []
    n = 0
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            entries.append(draw(not_an_object))  # a junk entry: skipped
            continue
        entry: dict[str, Any] = {"time": T0}
        # An entry's id stands in for a missing recipient; never a usable one here, so an
        # event whose recipient is broken stays broken.
        unusable = st.sampled_from([None, True, False, "", "\x00", [], {}, [PAGE]])
        if draw(st.booleans()):
            entry["id"] = draw(unusable)
        for field, standby in (("messaging", False), ("standby", True)):
            shape = draw(st.sampled_from(["list"] * 6 + ["absent", "junk"]))
            if shape == "absent":
                continue
            if shape == "junk":
                entry[field] = draw(st.one_of(json_scalar, st.dictionaries(
                    noise_key, json_scalar, max_size=2)))
                continue
            items = []
            for _ in range(draw(st.integers(min_value=0, max_value=5))):
                n += 1
                kind = draw(st.sampled_from(["message"] * 4 + ["postback", "other"]))
                if kind == "other":
                    items.append(draw(other_event(n)))
                    continue
                strategy = message_event if kind == "message" else postback_event
                event, outcome = draw(strategy(n, standby))
                items.append(event)
                if outcome is not None:
                    expected.append((n, outcome))
            entry[field] = items
        entry.update(draw(noise))
        entries.append(entry)
    body = {"object": "page", "entry": entries}
    body.update(draw(noise))
    return body, [outcome for _, outcome in expected]


@dataclass(frozen=True)
class Payload:
    """Raw bytes to post, the status they must get, and the messages they must store."""

    raw: bytes
    status: int
    messages: list[Expected]
    what: str


def _encode(body: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \\udxxx escapes, as in real JSON
    return json.dumps(body).encode()


@st.composite
def payloads(draw, limit: int):
    """A raw webhook body of any kind; ``limit`` is WEBHOOK_MAX_BODY_BYTES."""
    kind = draw(st.sampled_from(["page"] * 8 + ["not_json", "truncated", "not_object",
                                                "other_object", "no_entries", "huge"]))
    body, messages = draw(page_body())
    if kind == "page":
        raw = _encode(body)
        if len(raw) > limit:
            return Payload(raw, 413, [], "page (too large)")
        return Payload(raw, 200, messages, "page")
    if kind == "not_json":
        raw = draw(st.one_of(st.binary(min_size=1, max_size=200),
                             any_text.map(lambda t: t.encode("utf-8", "surrogatepass"))))
        try:
            json.loads(raw)
        except (ValueError, RecursionError):
            return Payload(raw, 400, [], "not json")
        raw = b"{" + raw  # it happened to be JSON: make sure it is not
        return Payload(raw, 400, [], "not json")
    if kind == "truncated":
        raw = _encode(body)
        cut = draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))
        return Payload(raw[:cut] if cut else b" ", 400, [], "truncated")
    if kind == "not_object":
        return Payload(_encode(draw(not_an_object)), 400, [], "not an object")
    if kind == "other_object":
        other = draw(st.one_of(st.sampled_from(["instagram", "user", "Page", "page ", ""]),
                               json_scalar.filter(lambda v: v != "page")))
        return Payload(_encode({**body, "object": other}), 400, [], "object is not page")
    if kind == "no_entries":
        return Payload(_encode({"object": "page", "entry": draw(st.one_of(
            st.none(), st.dictionaries(noise_key, json_scalar, max_size=2), any_text))}),
            400, [], "no entry list")
    raw = _encode({**body, "padding": "x" * (limit + 1)})
    return Payload(raw, 413, [], "huge")
