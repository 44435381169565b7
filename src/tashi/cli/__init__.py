"""The ``tashi`` command line: tables for people, ``--json`` for scripts.

Modules: :mod:`~tashi.cli.config` (where the URL and token come from),
:mod:`~tashi.cli.session` (one client call per command), :mod:`~tashi.cli.render`
(tables, sizes, ages, JSON), and one module per command group. The root group that
gathers them, and turns errors into one line and an exit code, is the entry point
:mod:`tashi.cmd.cli` (with :mod:`tashi.cmd.errors`).
"""
