"""The widget's own words (channels/webchat/static/widget.js, TEXTS): every language says
everything English says, with the same placeholders, and the five scores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WIDGET = Path(__file__).resolve().parents[2] / "channels" / "webchat" / "static" / "widget.js"
LANGUAGES = ("en", "fr", "es", "de", "it", "pt", "nl")
STRING = r'"(?:[^"\\]|\\.)*"'
ENTRY = re.compile(rf'(\w+):\s*({STRING}|\[[^\]]*\])')


def _texts() -> dict[str, dict[str, str]]:
    source = WIDGET.read_text(encoding="utf-8")
    block = source[source.index("var TEXTS = {"):source.index("function chooseLanguage")]
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"\n    (\w+): \{\n", block)]
    found = {}
    for (start, lang), end in zip(starts, [s for s, _ in starts[1:]] + [len(block)]):
        found[lang] = dict(ENTRY.findall(block[start:end]))
    return found


def test_every_language_is_there():
    assert tuple(_texts()) == LANGUAGES


@pytest.mark.parametrize("lang", LANGUAGES[1:])
def test_a_language_says_everything_english_says(lang):
    texts = _texts()
    english, other = texts["en"], texts[lang]
    assert set(other) == set(english), set(other) ^ set(english)
    for key, value in english.items():
        placeholders = set(re.findall(r"\{\w+\}", value))
        assert set(re.findall(r"\{\w+\}", other[key])) == placeholders, (lang, key)
        assert other[key].strip('"'), (lang, key)  # never empty
    assert len(re.findall(STRING, other["scores"])) == 5
    # The usual wait begins with a space: it follows the banner's sentence.
    assert other["usually"].startswith('" ') and other["back"].startswith('" ')
