"""Bad input or a bad environment is one line ``tashi: ...`` and a non-zero exit code,
never a traceback: config file, CA file, URL, token, ``tashi up``'s port and data
directory, and Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
import uvicorn
from click.testing import CliRunner, Result

from tashi.cli.config import Target, save_config
from tashi.cli.session import Session
from tashi.cli.up import _announce
from tashi.client import TashiClient
from tashi.cmd.cli import main
from tashi.domain.errors import InvalidInput, TashiError
from tashi.embedded.cluster import Cluster, ClusterConfig, _serve_manager
from tests.unit.test_cli_commands import Manager, fails, manager  # noqa: F401 (a fixture)

TASHI = Path(sys.executable).parent / "tashi"


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TASHI_URL", "TASHI_TOKEN", "TASHI_CA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def one_line(result: Result, exit_code: int) -> str:
    line = fails(result, exit_code)
    assert "Traceback" not in result.output
    return line


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket that listens on a port and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASHI_")}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config")}


def one_stderr_line(proc: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert proc.returncode == exit_code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tashi: ")
    return lines[0]


# --- 1. the config file ---------------------------------------------------------------------


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config" / "tashi" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'url = "\xff"\n')
    line = one_line(run("vm", "list"), 2)
    assert line == f"tashi: config file {path} is not valid UTF-8 (byte 7)"


# --- 2. the CA file ---------------------------------------------------------------------------


def test_missing_ca_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-ca.pem"
    monkeypatch.setenv("TASHI_CA", str(missing))
    line = one_line(run("--url", "https://127.0.0.1:1", "--token", "t", "vm", "list"), 2)
    assert line == f"tashi: cannot read CA file {missing}: No such file or directory"


def test_ca_file_without_certificate_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    path = save_config(Target(url="https://127.0.0.1:1", token="t", ca=str(bogus)))
    assert path.is_file()
    line = one_line(run("vm", "list"), 2)
    assert line.startswith(f"tashi: CA file {bogus} holds no usable certificate")


# --- 3. the URL ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://h:0", "ftp://h",
                                 "garbage", "http://", "http://[::1"])
def test_invalid_url_is_named(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASHI_URL", url)
    line = one_line(run("--token", "t", "vm", "list"), 2)
    assert line.startswith(f"tashi: invalid manager URL {url!r}: ")


@pytest.mark.parametrize("url", ["http://h:99999", "http://h:-1", "ftp://h", "h:80"])
def test_client_refuses_urls_it_cannot_call(url: str) -> None:
    with pytest.raises(InvalidInput, match="invalid manager URL"):
        TashiClient(url, "t")


# --- 4. the token ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["sécret", "two words", "line\nbreak"])
def test_malformed_token_is_not_echoed(token: str) -> None:
    result = run("--url", "http://127.0.0.1:1", "--token", token, "vm", "list")
    line = one_line(result, 2)
    assert line.startswith("tashi: malformed API token")
    assert token not in result.output
    assert token.split()[0] not in result.output


# --- 5-7. tashi up ------------------------------------------------------------------------------


def test_up_on_a_port_in_use(tmp_path: Path, listening: socket.socket) -> None:
    port = listening.getsockname()[1]
    proc = subprocess.run([str(TASHI), "up", "--data-dir", str(tmp_path / "data"),
                           "--port", str(port), "--driver", "fake"],
                          capture_output=True, text=True, timeout=60,
                          env=subprocess_env(tmp_path), stdin=subprocess.DEVNULL)
    line = one_stderr_line(proc, 5)
    assert line == f"tashi: cannot listen on 127.0.0.1:{port}: address already in use"
    assert not (tmp_path / "data" / "tashi.db").exists()  # refused before the store


def test_up_port_out_of_range(tmp_path: Path) -> None:
    result = run("up", "--port", "99999", "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "'--port': 99999 is not in the range 1<=x<=65535" in result.stderr


def test_up_data_dir_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    data = blocker / "data"
    proc = subprocess.run([str(TASHI), "up", "--data-dir", str(data), "--driver", "fake"],
                          capture_output=True, text=True, timeout=60,
                          env=subprocess_env(tmp_path), stdin=subprocess.DEVNULL)
    line = one_stderr_line(proc, 1)
    assert line == f"tashi: cannot create data directory {data}: not a directory"


def test_manager_that_exits_at_start_is_an_error() -> None:
    class Exits(uvicorn.Server):
        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            sys.exit(3)

    server = Exits(uvicorn.Config("never.loaded:app"))
    with socket.socket() as sock, pytest.raises(TashiError, match="could not start"):
        asyncio.run(_serve_manager(server, sock))


# --- 8. Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_is_interrupted_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Session, "call", interrupted)
    result = run("--url", "http://127.0.0.1:1", "--token", "t", "vm", "list")
    assert one_line(result, 130) == "tashi: interrupted"


def test_ctrl_c_at_a_prompt_is_interrupted_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def prompt(*args: object, **kwargs: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None  # as click.prompt does

    monkeypatch.setattr(click, "prompt", prompt)
    result = run("login", "--url", "http://127.0.0.1:1")
    assert one_line(result, 130) == "tashi: interrupted"


def test_end_of_input_at_a_prompt() -> None:
    result = run("login", "--url", "http://127.0.0.1:1", input="")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == \
        "tashi: aborted: no answer to the prompt (end of input)"
    assert "Traceback" not in result.output


def test_sigint_during_a_call(tmp_path: Path, listening: socket.socket) -> None:
    port = listening.getsockname()[1]
    proc = subprocess.Popen([str(TASHI), "--url", f"http://127.0.0.1:{port}", "--token", "t",
                             "vm", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=subprocess_env(tmp_path), stdin=subprocess.DEVNULL)
    try:
        listening.settimeout(30)
        conn, _ = listening.accept()  # the request is on its way: it waits for an answer
        with conn:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 130, err
    assert (out, err) == ("", "tashi: interrupted\n")


# --- 9. a stop during start-up -----------------------------------------------------------------


async def test_sigterm_during_startup_stops_cleanly(tmp_path: Path, free_port: int) -> None:
    cluster = Cluster(ClusterConfig(data_dir=tmp_path / "data", port=free_port,
                                    driver="fake"))
    ready = asyncio.Event()
    task = asyncio.create_task(cluster.run(ready=ready))
    await asyncio.sleep(0)  # run() has installed its handlers and is starting
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 30)
    assert not ready.is_set()  # stopped before it announced itself
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers removed
    assert signal.getsignal(signal.SIGINT) == signal.default_int_handler


# --- 10. the token stays out of argv -------------------------------------------------------------


async def test_announcement_points_at_the_token_file(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = ClusterConfig(data_dir=tmp_path, port=8471)
    ready = asyncio.Event()
    ready.set()
    await _announce(ready, config)
    err = capsys.readouterr().err
    assert f"tashi login --url http://127.0.0.1:8471 --token-file {config.token_file}" in err
    assert "--token $(" not in err


def test_login_with_token_file(manager: Manager, tmp_path: Path) -> None:  # noqa: F811
    token_file = tmp_path / "admin.token"
    token_file.write_text(manager.token + "\n")
    result = run("login", "--url", manager.url, "--token-file", str(token_file))
    assert result.exit_code == 0, result.output
    assert "logged in" in result.stdout
    assert manager.token in (tmp_path / "config" / "tashi" / "config.toml").read_text()


def test_login_with_token_on_stdin(manager: Manager) -> None:  # noqa: F811
    result = run("login", "--url", manager.url, "--token-file", "-", input=manager.token)
    assert result.exit_code == 0, result.output
    assert manager.token not in result.output


def test_token_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    line = one_line(run("login", "--url", "http://127.0.0.1:1", "--token-file", str(missing)), 2)
    assert line == f"tashi: cannot read token file {missing}: No such file or directory"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    line = one_line(run("login", "--url", "http://127.0.0.1:1", "--token-file", str(empty)), 2)
    assert line == f"tashi: token file {empty} holds no token"
    line = one_line(run("login", "--url", "http://127.0.0.1:1", "--token-file", "-",
                        input=""), 2)
    assert line == "tashi: stdin holds no token"


def test_token_file_and_token_exclude_each_other(tmp_path: Path) -> None:
    result = run("login", "--url", "http://127.0.0.1:1", "--token", "t",
                 "--token-file", str(tmp_path / "f"))
    assert result.exit_code == 2
    assert "give only one of --user, --token and --token-file" in result.stderr
    assert "Traceback" not in result.output



def test_no_answer_is_told_apart_from_no_manager() -> None:
    from tashi.client.client import _unanswered

    base = "http://m1:8470"
    refused = _unanswered("POST", base, httpx.ConnectError("refused"))
    assert refused == "cannot reach the manager at http://m1:8470: ConnectError refused"
    reset = _unanswered("POST", base, httpx.RemoteProtocolError("Server disconnected"))
    assert reset.startswith("the manager at http://m1:8470 did not answer the POST request "
                            "(it may have been done: look before asking again)")
    assert "may have been done" not in _unanswered("GET", base, httpx.ReadTimeout("slow"))
