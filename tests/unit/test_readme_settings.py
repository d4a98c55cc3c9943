"""The README's Configuration table names every setting (services/settings.py, and the
variables gunicorn.conf.py reads), and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from services.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def _configuration_table() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", section, re.M)) | {
        name for row in re.findall(r"^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)+) \|",
                                   section, re.M)
        for name in re.findall(r"`([A-Z0-9_]+)`", row)
    }


def test_every_setting_is_in_the_readme_and_every_row_is_a_setting():
    documented = _configuration_table()
    gunicorn = (REPO / "gunicorn.conf.py").read_text(encoding="utf-8")
    settings = {name.upper() for name in Settings.model_fields} | set(
        re.findall(r'os\.environ\.get\("([A-Z_]+)"', gunicorn)) - {"XDG_RUNTIME_DIR"}
    assert settings - documented == set(), "settings missing from the README's table"
    assert documented - settings == set(), "README rows that are not settings"
