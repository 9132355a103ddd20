"""The Korean catalogue: every text the code and templates have is in it, and every one has Korean
(none fuzzy). A string added without Korean, or never extracted, fails here with its msgid."""

import re
import shutil
import subprocess

from django.conf import settings
from django.core.management import call_command

CATALOGUE = settings.BASE_DIR / "locale" / "ko" / "LC_MESSAGES" / "django.po"


def msgids(path, *only):
    """The msgids of the entries `msgattrib` keeps with `only` (e.g. --untranslated), header left out. A
    msgid may run over several quoted lines (gettext breaks one at each newline)."""
    out = subprocess.run(["msgattrib", "--no-wrap", "--no-obsolete", *only, str(path)], capture_output=True,
                         text=True, check=True).stdout
    found = []
    for block in out.split("\n\n"):
        match = re.search(r'^msgid ((?:"[^\n]*"\n?)+)', block, re.M)
        text = "".join(re.findall(r'"(.*)"', match.group(1))) if match else ""
        if text:
            found.append(text)
    return found


def test_every_message_has_korean_and_none_is_fuzzy():
    assert msgids(CATALOGUE, "--untranslated") == []
    assert msgids(CATALOGUE, "--only-fuzzy") == []


def test_every_text_of_the_code_is_in_the_catalogue(tmp_path, settings, monkeypatch):
    """makemessages, run afresh on a copy of the project's code and catalogue, finds nothing it lacks.
    (A copy: makemessages writes to the catalogue of the tree it reads.)"""
    copy = tmp_path / "project"
    shutil.copytree(settings.BASE_DIR, copy, ignore=shutil.ignore_patterns(
        ".*", "var", "tests", "bench", "__pycache__", "*.sqlite3*", "node_modules", "*.egg-info"))
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["ko"], verbosity=0)
    catalogue = copy / "locale" / "ko" / "LC_MESSAGES" / "django.po"
    assert msgids(catalogue, "--untranslated") == [], "run `manage.py makemessages -l ko` and translate these"
    assert msgids(catalogue, "--only-fuzzy") == []
