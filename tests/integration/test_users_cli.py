"""``tashi user``, ``tashi token`` and ``tashi login --user`` against a real manager."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner, Result

from tashi.cmd.cli import main
from tests.unit import test_cli_commands as cli

manager = cli.manager  # the fixture: a manager served in a thread, for the CLI to call
Manager = cli.Manager
PASSWORD = "alice's password"


def add_alice(m: Manager) -> str:
    """Create alice with a password; her first API token."""
    out = cli.ok(cli.tashi(m, "--json", "user", "add", "alice", "--password-prompt",
                           input=f"{PASSWORD}\n{PASSWORD}\n"))
    return str(json.loads(out)["token"])


def prompted_fails(result: Result, exit_code: int) -> str:
    """The error line of a command that prompted (on stderr) and then failed."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    return result.stderr.splitlines()[-1]


def test_login_with_a_password_saves_a_new_token(manager: Manager, tmp_path: Path) -> None:
    add_alice(manager)
    runner = CliRunner()
    out = cli.ok(runner.invoke(main, ["login", "--url", manager.url, "--user", "alice"],
                               input=PASSWORD + "\n"))
    assert out.endswith(f"logged in to {manager.url} as alice (user)\n")
    assert PASSWORD not in out
    config = tmp_path / "config" / "tashi" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert PASSWORD not in config.read_text()
    assert 'token = "tashi_' in config.read_text()
    rows = cli.ok(runner.invoke(main, ["token", "list"])).splitlines()
    assert rows[0].split() == ["ID", "NAME", "AGE", "EXPIRES"]
    assert [r.split()[1].split("-")[0] for r in rows[1:]] == ["initial", "login"]


def test_login_with_a_wrong_password_saves_nothing(manager: Manager, tmp_path: Path) -> None:
    add_alice(manager)
    result = CliRunner().invoke(main, ["login", "--url", manager.url, "--user", "alice"],
                                input="not the password\n")
    assert prompted_fails(result, 3) == "tashi: wrong user name or password"
    assert not (tmp_path / "config" / "tashi" / "config.toml").exists()
    both = CliRunner().invoke(main, ["login", "--url", manager.url, "--user", "alice",
                                     "--token", "t"])
    assert both.exit_code == 2
    assert "give only one of --user, --token and --token-file" in both.output


def test_token_create_list_revoke(manager: Manager) -> None:
    alice = add_alice(manager)
    out = cli.ok(cli.tashi(manager, "token", "create", "ci", "--expires", "30d", token=alice))
    assert "ci created, expires: in 29d" in out or "ci created, expires: in 30d" in out
    secret = out.split("API token (shown once): ")[1].strip()
    listed = cli.ok(cli.tashi(manager, "token", "list", token=alice))
    assert secret not in listed
    assert [r.split()[1] for r in listed.splitlines()[1:]] == ["initial", "ci"]
    assert cli.ok(cli.tashi(manager, "token", "revoke", "ci", token=alice)).endswith(
        " ci revoked\n")
    assert cli.fails(cli.tashi(manager, "token", "list", token=secret), 3)
    assert cli.fails(cli.tashi(manager, "token", "revoke", "ci", token=alice), 4) == (
        "tashi: no token named ci")
    bad = cli.tashi(manager, "token", "create", "x", "--expires", "5y", token=alice)
    assert bad.exit_code == 2
    assert "not a duration" in bad.output
    admins = json.loads(cli.ok(cli.tashi(manager, "--json", "token", "list", "--user", "alice")))
    assert [t["name"] for t in admins] == ["initial"]
    assert "not found" in cli.fails(cli.tashi(manager, "token", "revoke", "999"), 4)


def test_passwd_by_the_user_and_by_an_admin(manager: Manager) -> None:
    alice = add_alice(manager)
    new = "a brand new password"
    wrong = cli.tashi(manager, "user", "passwd", token=alice, input=f"wrong one\n{new}\n{new}\n")
    assert prompted_fails(wrong, 3) == "tashi: wrong user name or password"
    out = cli.ok(cli.tashi(manager, "user", "passwd", token=alice,
                           input=f"{PASSWORD}\n{new}\n{new}\n"))
    assert out.endswith("password of user alice changed\n")
    assert new not in out
    short = cli.tashi(manager, "user", "passwd", "alice", input="short\nshort\n")  # admin
    assert "a password has 8 to 1024 characters" in prompted_fails(short, 2)
    cli.ok(cli.tashi(manager, "user", "passwd", "alice", input=f"{PASSWORD}\n{PASSWORD}\n"))
    login = CliRunner().invoke(main, ["login", "--url", manager.url, "--user", "alice"],
                               input=PASSWORD + "\n")
    cli.ok(login)


def test_user_remove(manager: Manager) -> None:
    add_alice(manager)
    assert cli.ok(cli.tashi(manager, "user", "remove", "alice")) == "user alice removed\n"
    assert cli.fails(cli.tashi(manager, "user", "remove", "alice"), 4) == (
        "tashi: user 'alice' not found")
    assert "is the last admin" in cli.fails(cli.tashi(manager, "user", "remove", "admin"), 5)
    assert [r.split()[0] for r in cli.ok(cli.tashi(manager, "user", "list")).splitlines()] == [
        "NAME", "admin"]
