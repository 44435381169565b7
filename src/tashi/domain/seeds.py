"""Cloud-init NoCloud seeds: what a user may ask for, and the documents a guest reads.

A seed is attached as a read-only ISO 9660 disk labelled ``cidata`` holding two files:
``meta-data`` (YAML: ``instance-id``, ``local-hostname``, ``public-keys``) and
``user-data`` (given as is: a shell script starting ``#!`` that cloud-init runs once
booted, or a ``#cloud-config`` document). Pure: the agent writes the ISO
(:mod:`tashi.agent.drivers.storage.seed`).
"""

from __future__ import annotations

import json
import re

from tashi.domain.errors import InvalidInput
from tashi.domain.models import Seed

MAX_USER_DATA_BYTES = 64 * 1024
MAX_SSH_KEYS = 16
MAX_SSH_KEY_LENGTH = 16 * 1024
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_SSH_KEY = re.compile(r"(?:ssh|ecdsa|sk)-[a-z0-9@.-]+ [A-Za-z0-9+/=]+(?: [^\n\r]*)?")


def check_seed(hostname: str | None, user_data: str, ssh_keys: tuple[str, ...],
               instance: str) -> Seed | None:
    """The seed asked for (None when nothing was: no seed is attached); the hostname
    defaults to the instance's name. InvalidInput naming what is wrong."""
    if hostname is None and not user_data and not ssh_keys:
        return None
    name = (hostname or instance).lower()
    if len(name) > 253 or not _HOSTNAME.fullmatch(name):
        raise InvalidInput(f"invalid hostname {name!r}: letters, digits and hyphens, in "
                           "dot-separated labels of at most 63 characters")
    if len(user_data.encode()) > MAX_USER_DATA_BYTES:
        raise InvalidInput(f"user-data is {len(user_data.encode())} bytes; at most "
                           f"{MAX_USER_DATA_BYTES}")
    if "\0" in user_data:
        raise InvalidInput("user-data must be text (it holds a NUL byte)")
    if len(ssh_keys) > MAX_SSH_KEYS:
        raise InvalidInput(f"{len(ssh_keys)} SSH keys; at most {MAX_SSH_KEYS}")
    keys = tuple(k.strip() for k in ssh_keys)
    for n, key in enumerate(keys, start=1):
        if len(key) > MAX_SSH_KEY_LENGTH or not _SSH_KEY.fullmatch(key):
            raise InvalidInput(f"SSH key {n} is not a public key line "
                               "('ssh-ed25519 AAAA... comment')")
    return Seed(hostname=name, user_data=user_data, ssh_keys=keys)


def meta_data(seed: Seed, instance_id: int) -> str:
    """The seed's ``meta-data`` (YAML; values written as JSON strings, which YAML reads
    alike, so nothing in them can break out)."""
    lines = [f"instance-id: {json.dumps(f'tashi-{instance_id}')}",
             f"local-hostname: {json.dumps(seed.hostname)}"]
    if seed.ssh_keys:
        lines.append("public-keys:")
        lines += [f"  - {json.dumps(k)}" for k in seed.ssh_keys]
    return "\n".join(lines) + "\n"


def user_data(seed: Seed) -> str:
    """The seed's ``user-data``: as given, or an empty cloud-config."""
    return seed.user_data or "#cloud-config\n{}\n"
