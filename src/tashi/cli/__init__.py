"""The ``tashi`` command line: tables for people, ``--json`` for scripts.

Modules: :mod:`~tashi.cli.main` (the root group), :mod:`~tashi.cli.config` (where the
URL and token come from), :mod:`~tashi.cli.session` (one client call per command),
:mod:`~tashi.cli.render` (tables, sizes, ages, JSON), :mod:`~tashi.cli.errors` (errors
become one line and an exit code), and one module per command group.
"""
