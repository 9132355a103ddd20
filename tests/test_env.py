"""Settings from the environment: typed, from NAME or NAME_FILE, and loud about a bad value."""

import os
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import create_once, env_bool, env_int, env_list, env_str, key_encryption_keys, parse_hex_key

KEY = "ab" * 32


def test_a_value_comes_from_the_variable_or_from_the_file_it_names(monkeypatch, tmp_path):
    monkeypatch.delenv("VL_TEST", raising=False)
    monkeypatch.delenv("VL_TEST_FILE", raising=False)
    assert env_str("VL_TEST", "fallback") == "fallback"
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("VL_TEST_FILE", str(secret))
    assert env_str("VL_TEST") == "from-a-file", "the file's value, without its line end"
    monkeypatch.setenv("VL_TEST", "from-the-variable")
    assert env_str("VL_TEST") == "from-the-variable", "the variable wins over the file"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                                 ("0", False), ("false", False), ("No", False), ("off", False),
                                                 ("", False)])
def test_booleans(monkeypatch, value, expected):
    monkeypatch.setenv("VL_TEST", value)
    assert env_bool("VL_TEST") is expected


@pytest.mark.parametrize("value", ["maybe", "2", "tru"])
def test_a_bad_boolean_fails_loudly_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("VL_TEST", value)
    with pytest.raises(ImproperlyConfigured, match="VL_TEST must be true or false"):
        env_bool("VL_TEST")


def test_whole_numbers(monkeypatch):
    monkeypatch.setenv("VL_TEST", "90")
    assert env_int("VL_TEST", 5) == 90
    monkeypatch.setenv("VL_TEST", "")
    assert env_int("VL_TEST", 5) == 5
    for bad in ("1.5", "ten", "0x10"):
        monkeypatch.setenv("VL_TEST", bad)
        with pytest.raises(ImproperlyConfigured, match="VL_TEST must be a whole number"):
            env_int("VL_TEST", 5)


def test_lists(monkeypatch):
    monkeypatch.delenv("VL_TEST", raising=False)
    assert env_list("VL_TEST", ["a"]) == ["a"]
    monkeypatch.setenv("VL_TEST", " East US , ,West Europe,")
    assert env_list("VL_TEST") == ["East US", "West Europe"]


def test_keys_are_64_hex_characters():
    assert parse_hex_key(f" {KEY}\n", "here") == bytes.fromhex(KEY)
    for bad in ("ab" * 31, "zz" * 32, "ab" * 33, ""):
        with pytest.raises(ImproperlyConfigured, match="here must be 64 hexadecimal characters"):
            parse_hex_key(bad, "here")


def test_the_key_encryption_key_is_made_once_privately_and_read_back(monkeypatch, tmp_path):
    monkeypatch.delenv("VAULTLINE_KEY_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("VAULTLINE_KEY_ENCRYPTION_KEY_FILE", raising=False)
    path = tmp_path / "key_encryption_key"
    first = key_encryption_keys(path)
    assert len(first) == 1 and len(first[0]) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert key_encryption_keys(path) == first, "made once, then read"
    monkeypatch.setenv("VAULTLINE_KEY_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS", f"{'cd' * 32}, {'ef' * 32}")
    assert key_encryption_keys(path) == [bytes.fromhex(KEY), bytes.fromhex("cd" * 32), bytes.fromhex("ef" * 32)]
    monkeypatch.setenv("VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS", "not-a-key")
    with pytest.raises(ImproperlyConfigured, match="VAULTLINE_PREVIOUS_KEY_ENCRYPTION_KEYS"):
        key_encryption_keys(path)


def test_create_once_keeps_the_first_writer(tmp_path):
    path = tmp_path / "once"
    create_once(path, "first")
    create_once(path, "second")
    assert path.read_text() == "first"
    assert [entry.name for entry in tmp_path.iterdir()] == ["once"], "no temporary file left behind"
