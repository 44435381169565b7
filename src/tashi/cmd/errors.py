"""The one place where errors become what a person sees: one line and an exit code,
the same for every entry point (``tashi``, ``tashi-manager``, ``tashi-agent``,
``tashi-scheduler``).

A :class:`~tashi.domain.errors.TashiError` (from the client, or raised by the CLI
itself about its own inputs) becomes ``tashi: <message>`` on stderr and the exit
code the error declares. Click's own usage errors keep click's exit code 2. An
answer the client cannot read (not a Tashi manager?) is one line too, exit 1.
Ctrl-C is ``tashi: interrupted``, exit 130 (128 + SIGINT), as shells report it.
Under ``tashi --json`` each of these is one JSON object on stderr instead:
``{"error": "not_found", "message": "...", "exit_code": 4}``.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from tashi.domain.errors import TashiError

#: The key, in a click context's ``meta``, of "the command's output is JSON".
JSON_KEY = "tashi.json"


class CliError(click.ClickException):
    """A click exception that prints ``tashi: <message>`` (with ``as_json``: a JSON
    object); its class holds the exit code (click declares ``exit_code`` a class
    variable), see :func:`cli_error`. ``code``: the error's kind, as the API names it."""

    code = "error"
    as_json = False

    def show(self, file: IO[Any] | None = None) -> None:
        if self.as_json:
            click.echo(json.dumps({"error": self.code, "message": self.format_message(),
                                   "exit_code": self.exit_code}), err=True)
            return
        click.echo(f"tashi: {self.format_message()}", err=True)


class Interrupted(CliError):
    """Ctrl-C: ``tashi: interrupted``, on a line of its own after the terminal's ``^C``."""

    exit_code = 130
    code = "interrupted"

    def __init__(self) -> None:
        super().__init__("interrupted")

    def show(self, file: IO[Any] | None = None) -> None:
        if sys.stderr.isatty() and not self.as_json:
            click.echo("", err=True)
        super().show(file)


_BY_EXIT_CODE: dict[int, type[CliError]] = {}


def cli_error(message: str, exit_code: int, code: str = "error") -> CliError:
    """A :class:`CliError` that makes ``tashi`` exit with ``exit_code``."""
    cls = _BY_EXIT_CODE.get(exit_code)
    if cls is None:
        cls = type(f"CliError{exit_code}", (CliError,), {"exit_code": exit_code})
        _BY_EXIT_CODE[exit_code] = cls
    error = cls(message)
    error.code = code
    return error


@contextmanager
def translated(as_json: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Turn expected errors raised inside the block into :class:`CliError`, shown as
    JSON if ``as_json()`` says so when they happen (click's usage errors too)."""
    try:
        yield
    except CliError as exc:
        exc.as_json = as_json()
        raise
    except click.UsageError as exc:
        if not as_json():
            raise
        raise _json(cli_error(_one_line(exc.format_message()), exc.exit_code, "usage")) \
            from exc
    except TashiError as exc:
        raise _json(cli_error(_one_line(exc.message), exc.exit_code, exc.code),
                    as_json()) from exc
    except KeyboardInterrupt as exc:
        raise _json(Interrupted(), as_json()) from exc
    except click.Abort as exc:  # a prompt ended by Ctrl-C, or by the end of its input
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise _json(Interrupted(), as_json()) from exc
        raise _json(cli_error("aborted: no answer to the prompt (end of input)", 1,
                              "aborted"), as_json()) from exc
    except Exception as exc:
        invalid = _invalid_fields(exc)
        if invalid is None:
            raise
        raise _json(cli_error(f"unexpected answer from the manager ({invalid} "
                              "invalid fields): is the URL a Tashi manager?", 1,
                              "bad_answer"), as_json()) from exc


def _invalid_fields(exc: Exception) -> int | None:
    """How many fields were invalid, if ``exc`` is pydantic's ValidationError. Looked up
    only if pydantic is loaded (none can be raised before): ``tashi --version`` and
    ``--help`` do not load it."""
    core = sys.modules.get("pydantic_core")
    if core is not None and isinstance(exc, core.ValidationError):
        return int(exc.error_count())
    return None


def _json(error: CliError, as_json: bool = True) -> CliError:
    error.as_json = as_json
    return error


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "error"
