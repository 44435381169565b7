"""The layers of the package stay straight (ARCHITECTURE.md §4): every import in
``src/tashi`` is read with :mod:`ast` and checked against the rules below, and no API
route reaches past its service into the store.

From the bottom up: ``domain`` (pure), ``common``, ``store``, ``identity``, ``manager``
and the pure placement core of ``scheduler``, then ``api`` (the only HTTP server and
the home of the wire schemas), then the processes that speak the wire through the
client (``agent``, the scheduler's loop, ``embedded``), then ``cli``, and ``cmd`` on
top of everything.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import tashi

ROOT = Path(tashi.__file__).parent

#: Below the API: neither the web framework nor the wire schemas (nor the client of them).
WEB_AND_WIRE = ("fastapi", "starlette", "uvicorn", "tashi.api", "tashi.client")

#: Modules that talk to the manager through the typed client, and so see its wire types:
#: the agent's and the scheduler's loops. Everything else of theirs works on domain types.
CLIENT_BOUNDARIES = frozenset({"tashi.agent.service", "tashi.scheduler.service"})

#: Routes that still read the store themselves, each with who moves it behind a service.
#: The events of one instance go behind the event service with the structured events work.
ROUTES_ON_THE_STORE: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Rule:
    """Modules ``applies`` selects may import nothing ``forbidden`` names (a module, or
    any module under it); ``allowed`` (when given) lists the only tashi packages they
    may import."""

    says: str
    applies: Callable[[str], bool]
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] | None = None


def under(*packages: str) -> Callable[[str], bool]:
    return lambda module: any(is_under(module, p) for p in packages)


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def placement_core(module: str) -> bool:
    return is_under(module, "tashi.scheduler") and module not in CLIENT_BOUNDARIES


def agent_inside(module: str) -> bool:
    return is_under(module, "tashi.agent") and module not in CLIENT_BOUNDARIES


RULES = (
    Rule("the domain imports nothing of ours but the domain",
         under("tashi.domain"), allowed=("tashi.domain",)),
    Rule("common imports nothing of ours but the domain and common",
         under("tashi.common"), allowed=("tashi.domain", "tashi.common")),
    Rule("nothing below the API imports the web framework or the wire schemas",
         lambda m: under("tashi.domain", "tashi.common", "tashi.store", "tashi.identity",
                         "tashi.manager")(m) or placement_core(m),
         forbidden=WEB_AND_WIRE),
    Rule("only the API imports the web framework",
         lambda m: not is_under(m, "tashi.api"), forbidden=("fastapi", "starlette")),
    Rule("the store is below identity, the manager and everything above",
         under("tashi.store"),
         forbidden=("tashi.identity", "tashi.manager", "tashi.agent", "tashi.embedded",
                    "tashi.scheduler.service")),
    Rule("identity is below the manager's lifecycle controllers",
         under("tashi.identity"), forbidden=("tashi.manager", "tashi.scheduler")),
    Rule("the placement core is pure: no store, no manager, no client",
         placement_core, forbidden=("tashi.store", "tashi.manager", "tashi.identity",
                                    "tashi.agent")),
    Rule("the agent works on domain types; only its client boundary sees the wire",
         agent_inside, forbidden=("tashi.api", "tashi.manager", "tashi.store",
                                  "tashi.identity")),
    Rule("the client boundaries see the wire schemas, nothing else of the API",
         lambda m: m in CLIENT_BOUNDARIES,
         forbidden=("tashi.api.app", "tashi.api.routes", "tashi.api.convert",
                    "tashi.manager", "tashi.store")),
    Rule("nothing but cmd and cli imports the command line",
         lambda m: not under("tashi.cli", "tashi.cmd")(m), forbidden=("tashi.cli",)),
    Rule("cmd is the top floor: nothing imports it",
         lambda m: not is_under(m, "tashi.cmd"), forbidden=("tashi.cmd",)),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Each module ``path`` imports (anywhere in it: lazy imports count), with its line."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def sources() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def breaks(rule: Rule, imported: str) -> bool:
    if any(is_under(imported, f) for f in rule.forbidden):
        return True
    if rule.allowed is None or not is_under(imported, "tashi") or imported == "tashi":
        return False
    return not any(is_under(imported, a) for a in rule.allowed)


def violations(rule: Rule) -> list[str]:
    found = set()
    for path in sources():
        module = module_name(path)
        if not rule.applies(module):
            continue
        for line, imported in imports_of(path):
            if breaks(rule, imported):
                found.add(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return sorted(found)


@pytest.mark.parametrize("rule", RULES, ids=[r.says for r in RULES])
def test_imports_follow_the_layers(rule: Rule) -> None:
    found = violations(rule)
    assert not found, "\n  ".join([f"{rule.says}:", *found])


def store_reads(path: Path) -> Iterator[tuple[str, int]]:
    """(function, line) of each ``<something>.store`` a route module reads."""
    for fn in ast.walk(tree_of(path)):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Attribute) and node.attr == "store":
                    yield fn.name, node.lineno


def test_routes_call_services_never_the_store() -> None:
    """A route calls the manager's services; the services read and write the store."""
    seen = {(str(path.relative_to(ROOT)), fn, line)
            for path in sorted((ROOT / "api" / "routes").glob("*.py"))
            for fn, line in store_reads(path)}
    reaching = sorted(f"{p}:{line} ({fn})" for p, fn, line in seen
                      if (p, fn) not in ROUTES_ON_THE_STORE)
    assert not reaching, "\n  ".join(["routes reading the store:", *reaching])
    stale = ROUTES_ON_THE_STORE - {(p, fn) for p, fn, _ in seen}
    assert not stale, f"moved behind a service: drop {sorted(stale)} from ROUTES_ON_THE_STORE"


def test_the_rules_see_imports() -> None:
    """The checker itself: imports at the top and inside functions (lazy) are found."""
    names = {name for _, name in imports_of(ROOT / "cmd" / "cli.py")}
    assert {"tashi.cli.session", "tashi.cmd.errors.translated", "click"} <= names
    assert module_name(ROOT / "cmd" / "__init__.py") == "tashi.cmd"
    assert breaks(RULES[0], "tashi.store.base")
    assert not breaks(RULES[0], "dataclasses")
