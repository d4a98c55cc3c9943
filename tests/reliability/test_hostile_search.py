"""Search and filters take any text, on both stores, directly and through the admin API.

Hostile text (LIKE wildcards, PostgREST operators, quotes, NUL, long strings, any unicode)
and hypothesis-generated text never raise from the store, never give a 5xx, and return
exactly the conversations whose display name or messages contain the text, compared with a
Python computation over the seeded data:

* every conversation containing the text exactly, or up to ASCII case, must be listed
  (any case-insensitive comparison finds those);
* nothing may be listed that does not contain it under some case folding (Python's lower()
  or casefold(), per-character lowering as PostgreSQL does); the stores fold a few non-ASCII
  letters differently (SQLite: ``casefold``; PostgreSQL: its locale's per-letter lower), so
  between those two bounds either answer is right.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from services.models import ConversationFilter, InboundMessage

FUZZ = dict(derandomize=True, database=None, deadline=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SURROGATE = re.compile("[\ud800-\udfff]")

NASTIES = [",", "(", ")", "*", "%", "_", "\\", "'", '"', "`", "or=(id.gt.0)", "and=(id.gt.0)",
           "not.", "not.is.null", "ilike.*", "eq.", "&", "?", "#", "..", "\x00", "a\x00b",
           "%%", "\\%", "\\_", "_%", "%_%", "*)", "(*", "')--", "'; drop table messages; --",
           "$1", "%s", "{}", "[]", "\\\\", "\\'", "::text", "|", "~", "~*", "!", "<", ">",
           "/*", "*/", "\r\n", "\t", " ", "  ", "e" * 200, "\u202e", "\u200f", "\U0001f600",
           "ΑΣ", "İ", "ß", "ẞ", "K", "ǅ", "ﬃ", "é", "É", "\ud800", "\ufffd", "select",
           "id.gt.0&status=eq.closed", "search=%", "q=*", "p_filters", "null", "true"]

# Characters that make text hostile or unicode-hard, and plain ones so texts also hit.
_ALPHABET = st.one_of(
    st.sampled_from(list(",()*%_\\'\"`&?#.=!<>|~:;{}[]$/ \t\n-+")),
    st.sampled_from(list("abcdeiksxyzABCDEIKSXYZ0123456789")),
    st.sampled_from(["\x00", "Α", "Σ", "σ", "ς", "İ", "ı", "ß", "ẞ", "\u212a", "ǅ", "ǆ", "ﬃ",
                     "é", "É", "\u0301", "\u202e", "\u200f", "\u05d0", "\u0627", "\U0001f600",
                     "\ufeff", "\ud800", "\udfff"]),
    st.characters(codec="utf-8"),
)
texts = st.lists(_ALPHABET, min_size=1, max_size=12).map("".join)


def stored(text: str) -> str:
    """Stored text: NUL dropped, lone surrogates as U+FFFD (as InboundMessage stores it)."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def _ascii_lower(text: str) -> str:
    return re.sub("[A-Z]", lambda m: m.group().lower(), text)


def _per_letter_lower(text: str) -> str:
    return "".join(ch.lower()[:1] or ch for ch in text)


REQUIRED_FOLDS = (lambda t: t, _ascii_lower)
ALLOWED_FOLDS = (lambda t: t, _ascii_lower, str.lower, str.casefold, _per_letter_lower)


def _matches(needle: str, texts_of_one: list[str], folds) -> bool:
    return any(fold(needle) in fold(text) for fold in folds for text in texts_of_one)


class Seeded:
    """Conversations whose names and messages are made of the hostile texts."""

    def __init__(self, store, clock) -> None:
        self.texts: dict[int, list[str]] = {}  # conversation id -> name and messages
        words = NASTIES + ["100% sure", "file_name.txt", "fileXname", "a*b star", "call f() now",
                           "or=(id.gt.0) literally", "back\\slash", "it's", "ΑΣΑ λέξη",
                           "İstanbul", "STRASSE", "straße", "Kelvin \u212a", "naïve café"]
        for i, word in enumerate(words):
            name = None if i % 3 else f"Name {word}"
            # (message content: the word inside other text, so substrings hit too)
            contents = [f"x{word}y", f"plain {i}"] if i % 2 else [word]
            conversation = None
            for j, content in enumerate(contents):
                conversation = store.track_inbound(InboundMessage(
                    platform="webchat" if i % 2 else "messenger", external_user_id=f"p{i}",
                    external_id=f"s{i}-{j}", content=content, display_name=name),
                    clock.advance(seconds=1)).conversation
            self.texts[conversation.id] = [stored(c) for c in contents] + (
                [stored(name)] if name else [])
        self.all = set(self.texts)

    def required(self, search: str) -> set[int]:
        needle = stored(search)
        if not needle:
            return set(self.all)  # nothing left to search for: no search filter
        return {cid for cid, ts in self.texts.items() if _matches(needle, ts, REQUIRED_FOLDS)}

    def allowed(self, search: str) -> set[int]:
        needle = stored(search)
        if not needle:
            return set(self.all)
        return {cid for cid, ts in self.texts.items() if _matches(needle, ts, ALLOWED_FOLDS)}


def _listed(store, **filters) -> set[int]:
    page = store.list_conversations(ConversationFilter(**filters), limit=500)
    assert page.next_cursor is None
    return {c.id for c in page.conversations}


def test_store_search_takes_any_text_and_lists_exactly_the_matches(store, clock, ledger):
    seeded = Seeded(store, clock)
    sent = 0
    matched = 0

    def run(seed_value: int) -> None:
        @seed(seed_value)
        @hsettings(max_examples=150 if store.kind == "sqlite" else 80, **FUZZ)
        @given(st.one_of(st.sampled_from(NASTIES), texts,
                         st.sampled_from(NASTIES).map(str.upper),
                         st.tuples(texts, st.sampled_from(NASTIES)).map("".join)).map(
            lambda t: t[:200]))  # longer is refused by the filter (a 400 through the API)
        def one(search):
            nonlocal sent, matched
            listed = _listed(store, search=search)
            sent += 1
            required, allowed = seeded.required(search), seeded.allowed(search)
            assert required <= listed, f"{search!r} missed {sorted(required - listed)}"
            assert listed <= allowed, f"{search!r} leaked {sorted(listed - allowed)}"
            matched += bool(listed) and listed != seeded.all
            # AND with another filter: only the rows of both.
            webchat = _listed(store, search=search, platform="webchat")
            assert webchat == listed & _listed(store, platform="webchat")

        one()

    # What a seed's examples search for also depends on the constants of the project's
    # modules loaded so far (Hypothesis draws from them), so it changes with the code: while
    # fewer than 21 searches found some but not all conversations, another round runs with
    # the next seed (in a full run of 4 Dec 2026: 45 on SQLite, 25 on Supabase in one round).
    for seed_value in range(1, 5):
        run(seed_value)
        if matched > 20:
            break
    for search in NASTIES:  # every nasty, whatever hypothesis picked
        listed = _listed(store, search=search)
        assert seeded.required(search) <= listed <= seeded.allowed(search), repr(search)
        sent += 1
    ledger.payloads(sent)
    assert matched > 20  # the searches did find things, not only nothing or everything


def test_person_filter_takes_any_text_and_matches_exactly(store, clock, ledger):
    ids = ["v_plain", "o'brien", "a,b", "(x)", "*", "%", "_", "or=(id.gt.0)", "a\\b", "é",
           "ΑΣ", "\U0001f600", "eq.v_plain", "v_plain%"]
    made = {}
    for i, person in enumerate(ids):
        made[person] = store.track_inbound(InboundMessage(
            platform="webchat", external_user_id=person, external_id=f"id-{i}", content="hi"),
            clock.advance(seconds=1)).conversation.id
    sent = 0

    @hsettings(max_examples=60, **FUZZ)
    @example("v_PLAIN")
    @example("v_plain\x00")
    @given(st.one_of(st.sampled_from(ids + NASTIES), texts))
    def run(person):
        nonlocal sent
        if not stored(person) or len(stored(person)) > 256:
            return  # no person at all: refused by the filter (a 400 through the API)
        sent += 1
        listed = _listed(store, platform="webchat", external_user_id=person)
        assert listed == {cid for p, cid in made.items() if p == stored(person)}, person
        assert _listed(store, platform="messenger", external_user_id=person) == set()

    run()
    ledger.payloads(sent)


# -- through the admin API --------------------------------------------------------------------
@pytest.fixture
def api(client, make_token):
    headers = make_token("searcher@example.com")

    def get(query: str):
        return client.get("/admin/conversations?" + query + "&limit=500", headers=headers)

    return get


def test_admin_api_search_and_filters_take_any_text(api, store, clock, ledger):
    seeded = Seeded(store, clock)
    sent = 0

    @hsettings(max_examples=60 if store.kind == "sqlite" else 40, **FUZZ)
    @given(text=st.one_of(st.sampled_from(NASTIES), texts).filter(
        lambda t: not _SURROGATE.search(t)),  # a URL cannot carry a lone surrogate
        name=st.sampled_from(["q", "search", "status", "platform", "handled_by", "assigned_to",
                              "needs_human", "unassigned", "sort", "cursor", "limit",
                              "external_user_id"]))
    def run(text, name):
        nonlocal sent
        value = quote(text.encode("utf-8"), safe="")
        answer = api(f"{name}={value}" + ("&platform=webchat" if name == "external_user_id"
                                          else ""))
        sent += 1
        assert answer.status_code < 500, (name, text, answer.get_data()[:200])
        body = answer.get_json()
        if name in ("q", "search"):
            if len(text) > 200:
                assert answer.status_code == 400 and body["error"]
                return
            assert answer.status_code == 200, body
            listed = {c["id"] for c in body["conversations"]}
            assert seeded.required(text) <= listed <= seeded.allowed(text), text
            return
        if answer.status_code == 200:  # a valid value of that filter: still only matches
            listed = {c["id"] for c in body["conversations"]}
            assert listed <= seeded.all
        else:
            assert answer.status_code == 400 and body["success"] is False and body["error"]

    run()
    for huge in ("assigned_to=" + "9" * 30, "assigned_to=-" + "9" * 30, "limit=" + "9" * 30,
                 "cursor=" + "A" * 600, "q=" + "x" * 201):
        answer = api(huge)
        assert answer.status_code in (200, 400), (huge, answer.status_code)
        sent += 1
    ledger.payloads(sent)
