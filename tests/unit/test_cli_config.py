"""Where the CLI's URL and token come from, and how the config file is written."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from tashi.cli.config import DEFAULT_URL, Target, config_path, resolve, save_config
from tashi.domain.errors import InvalidInput


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("TASHI_URL", "TASHI_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def test_path_follows_xdg(config_home: Path) -> None:
    assert config_path() == config_home / "tashi" / "config.toml"


def test_path_defaults_to_dot_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".config" / "tashi" / "config.toml"


def test_defaults_without_anything(config_home: Path) -> None:
    assert resolve() == Target(url=DEFAULT_URL, token=None)


def test_flags_then_env_then_file(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_config(Target(url="http://file:1", token="file-token"))
    assert resolve() == Target(url="http://file:1", token="file-token")
    monkeypatch.setenv("TASHI_URL", "http://env:2")
    monkeypatch.setenv("TASHI_TOKEN", "env-token")
    assert resolve() == Target(url="http://env:2", token="env-token")
    assert resolve("http://flag:3/", "flag-token") == Target(url="http://flag:3",
                                                             token="flag-token")


def test_save_is_private_and_valid_toml(config_home: Path) -> None:
    path = save_config(Target(url="http://m:8470", token='tok"en\\'))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text()) == {"url": "http://m:8470", "token": 'tok"en\\'}
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary left


def test_save_replaces_an_older_file(config_home: Path) -> None:
    save_config(Target(url="http://a:1", token="one"))
    save_config(Target(url="http://b:2", token="two"))
    assert resolve() == Target(url="http://b:2", token="two")


def test_broken_file_is_one_clear_error(config_home: Path) -> None:
    path = config_home / "tashi" / "config.toml"
    path.parent.mkdir()
    path.write_text("url = \n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        resolve()
    path.write_text("url = 3\n")
    with pytest.raises(InvalidInput, match="url must be a string"):
        resolve()


def test_url_must_be_http(config_home: Path) -> None:
    for url in ("ftp://x", "127.0.0.1:8470", "http://", "localhost"):
        with pytest.raises(InvalidInput, match="invalid manager URL"):
            resolve(url, "t")
