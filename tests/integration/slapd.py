"""A throwaway OpenLDAP server for tests, never the system's slapd service.

:func:`start_slapd` writes a minimal cn=config (mdb backend, suffix ``dc=tashi,dc=test``,
a hashed root password, ACLs that hide passwords and need a bind to read), loads it
with ``slapadd -n0``, starts ``slapd -d 0`` on a free loopback port, waits until it
answers ``ldapwhoami``, and times that. Missing tools fail the test (``slapd`` and
``ldap-utils`` are in ``scripts/install.sh``); they never skip it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SUFFIX = "dc=tashi,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
READY_TIMEOUT_S = 15.0
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib64/openldap",
                "/usr/libexec/openldap", "/usr/lib/openldap")
_SCHEMA_DIRS = ("/etc/ldap/schema", "/etc/openldap/schema")

_CONFIG = """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {work}/slapd.pid
olcArgsFile: {work}/slapd.args
{modules}
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://{schema}/core.ldif
include: file://{schema}/cosine.ldif
include: file://{schema}/nis.ldif
include: file://{schema}/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcRootDN: {root_dn}
olcRootPW: {root_hash}
olcDbDirectory: {work}/db
olcDbMaxSize: 16777216
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""

_MODULES = """
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {path}
olcModuleLoad: back_mdb
"""


def tool(name: str) -> str:
    """The path of an OpenLDAP program; fails (not skips) the test when it is missing."""
    found = shutil.which(name, path=_SEARCH_PATH)
    if found is None:
        pytest.fail(f"{name} not found: install slapd and ldap-utils (scripts/install.sh)")
    return found


def _run(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}: {done.stderr or done.stdout}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Slapd:
    """A running slapd: its URL, root credentials, process and how long it took to start."""

    url: str
    root_password: str
    process: subprocess.Popen[bytes]
    work: Path
    start_s: float = 0.0

    def ldapadd(self, ldif: str) -> None:
        """Add entries as the root DN (password passed in a file, not on the command line)."""
        _run(tool("ldapadd"), "-x", "-H", self.url, "-D", ROOT_DN,
             "-y", str(self.work / "root.pw"), stdin=ldif)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return (self.work / "slapd.log").read_text(errors="replace")


def hash_password(password: str) -> str:
    """``{SSHA}...``, as ``slappasswd`` makes it."""
    return _run(tool("slappasswd"), "-s", password).strip()


def _write_config(work: Path, root_password: str) -> Path:
    modules = next((d for d in _MODULE_DIRS if Path(d, "back_mdb.so").exists()), None)
    schema = next((d for d in _SCHEMA_DIRS if Path(d, "core.ldif").exists()), None)
    if schema is None:
        pytest.fail(f"no OpenLDAP schema directory among {_SCHEMA_DIRS}")
    text = _CONFIG.format(
        work=work, schema=schema, suffix=SUFFIX, root_dn=ROOT_DN,
        root_hash=hash_password(root_password),
        modules=_MODULES.format(path=modules) if modules else "",  # else mdb is built in
    )
    (work / "db").mkdir()
    (work / "slapd.d").mkdir()
    secret = work / "root.pw"
    secret.touch(mode=0o600)
    secret.write_text(root_password)  # no newline: the ldap tools read it verbatim
    path = work / "slapd.ldif"
    path.write_text(text)
    return path


def start_slapd(work: Path) -> Slapd:
    """Configure and start a slapd under ``work``; the caller must :meth:`Slapd.stop` it."""
    slapd = tool("slapd")
    root_password = secrets.token_urlsafe(16)
    config = _write_config(work, root_password)
    _run(tool("slapadd"), "-n0", "-F", str(work / "slapd.d"), "-l", str(config))
    url = f"ldap://127.0.0.1:{_free_port()}/"
    started = time.monotonic()
    with (work / "slapd.log").open("wb") as log:
        process = subprocess.Popen(
            [slapd, "-h", url, "-F", str(work / "slapd.d"), "-d", "0"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    server = Slapd(url=url, root_password=root_password, process=process, work=work)
    _wait_ready(server)
    server.start_s = time.monotonic() - started
    server.ldapadd(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
                   "dc: tashi\no: Tashi tests\n")
    return server


def _wait_ready(server: Slapd) -> None:
    whoami = tool("ldapwhoami")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"slapd exited {server.process.returncode}:\n{server.log()}")
        probe = subprocess.run([whoami, "-x", "-H", server.url], capture_output=True,
                               check=False)
        if probe.returncode == 0:
            return
        time.sleep(0.02)
    server.stop()
    pytest.fail(f"slapd did not answer at {server.url} within {READY_TIMEOUT_S}s:\n{server.log()}")
