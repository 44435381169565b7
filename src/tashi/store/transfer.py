"""A store's whole state as a versioned JSON document: export, import, and the pickle file.

The document (``format: tashi-store``, ``version: 2``) holds plain data only: dicts,
lists, strings, numbers, booleans and null; times are ISO 8601 strings in UTC; enums
are their wire values. Records keep their ids; ``next_ids`` keeps the ids that a
deleted instance or event used from being given again after an import::

    {"format": "tashi-store", "version": 2,
     "users": [...], "tokens": [...], "settings": {...}, "hosts": [...],
     "images": [...], "networks": [...], "instances": [...], "consoles": [...],
     "events": [...], "next_ids": {"instances": 8, "events": 31},
     "passwords": {"alice": "$argon2id$..."}}

Tokens and passwords appear as the hashes the store keeps, never in clear. Version 1
(before passwords) is read too, as a document without passwords. Export then import
moves a cluster between stores (sqlite to PostgreSQL, say); a document that is not
one of ours raises :class:`~tashi.domain.errors.InvalidInput`.
"""

from __future__ import annotations

import json
import types
from dataclasses import MISSING, fields
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, get_origin, get_type_hints

from tashi.common.files import write_private
from tashi.domain.capabilities import HostCapabilities
from tashi.domain.errors import InvalidInput
from tashi.domain.events import Event
from tashi.domain.models import Host, Image, Instance, Network, User
from tashi.domain.resources import CLASSES, Resources
from tashi.domain.states import InstanceState
from tashi.store.base import Snapshot, Store, TokenRecord
from tashi.store.capabilities import capabilities_doc, capabilities_from_doc
from tashi.store.documents import spec_doc, spec_from_doc, status_doc, status_from_doc, utc

FORMAT = "tashi-store"
VERSION = 2
READABLE = (1, 2)  # version 1: no "passwords"

T = TypeVar("T")
Doc = dict[str, Any]


def export_store(store: Store, path: Path) -> Snapshot:
    """Write the whole state of ``store`` to ``path`` as JSON (mode 0600, atomically)."""
    snap = store.snapshot()
    write_private(path, json.dumps(to_document(snap), indent=1, ensure_ascii=False) + "\n")
    return snap


def import_store(store: Store, path: Path) -> Snapshot:
    """Load the document at ``path`` into ``store``, which must be empty."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    snap = from_document(doc, source=str(path))
    store.restore(snap)
    return snap


def to_document(snap: Snapshot) -> Doc:
    return {
        "format": FORMAT,
        "version": VERSION,
        "users": [_plain(u) for u in snap.users],
        "tokens": [_plain(t) for t in snap.tokens],
        "settings": dict(snap.settings),
        "hosts": [_plain(h) for h in snap.hosts],
        "images": [_plain(i) for i in snap.images],
        "networks": [_plain(n) for n in snap.networks],
        "instances": [_instance_doc(i) for i in snap.instances],
        "consoles": [{"instance_id": i, "text": t} for i, t in snap.consoles],
        "events": [_plain(e) for e in snap.events],
        "next_ids": {"instances": snap.next_instance_id, "events": snap.next_event_id},
        "passwords": dict(snap.passwords),
        "epoch": snap.epoch,
    }


def from_document(doc: Any, *, source: str) -> Snapshot:
    """The snapshot in ``doc``; InvalidInput naming ``source`` if it is not one."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInput(f"{source}: not a Tashi store document (format {FORMAT!r})")
    if doc.get("version") not in READABLE:
        raise InvalidInput(f"{source}: document version {doc.get('version')!r}; "
                           f"this Tashi reads versions {READABLE[0]} to {READABLE[-1]}")
    try:
        return _snapshot(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{source}: malformed Tashi store document: "
                           f"{type(exc).__name__}: {exc}") from exc


def _snapshot(doc: Doc) -> Snapshot:
    settings, passwords = doc["settings"], doc.get("passwords", {})
    if not isinstance(settings, dict) or not isinstance(passwords, dict):
        raise TypeError("settings or passwords is not an object")
    return Snapshot(
        users=tuple(_record(User, d) for d in doc["users"]),
        tokens=tuple(_record(TokenRecord, d) for d in doc["tokens"]),
        settings=tuple(sorted((_is(str, k), _is(str, v)) for k, v in settings.items())),
        hosts=tuple(_record(Host, d) for d in doc["hosts"]),
        images=tuple(_record(Image, d) for d in doc["images"]),
        networks=tuple(_record(Network, d) for d in doc["networks"]),
        instances=tuple(_instance(d) for d in doc["instances"]),
        consoles=tuple((_is(int, c["instance_id"]), _is(str, c["text"]))
                       for c in doc["consoles"]),
        events=tuple(_record(Event, d) for d in doc["events"]),
        next_instance_id=_is(int, doc["next_ids"]["instances"]),
        next_event_id=_is(int, doc["next_ids"]["events"]),
        passwords=tuple(sorted((_is(str, k), _is(str, v)) for k, v in passwords.items())),
        epoch=_is(int, doc.get("epoch", 0)),
    )


def _instance_doc(inst: Instance) -> Doc:
    return {
        "id": inst.id, "name": inst.name, "owner": inst.owner, "state": inst.state.value,
        "generation": inst.generation, "spec": spec_doc(inst.spec, with_host=True),
        "status": status_doc(inst.status), "created_at": _value_out(inst.created_at),
        "updated_at": _value_out(inst.updated_at),
    }


def _instance(d: Doc) -> Instance:
    spec = d["spec"]
    return Instance(
        id=_is(int, d["id"]), name=_is(str, d["name"]), owner=_is(str, d["owner"]),
        state=InstanceState(d["state"]), generation=_is(int, d["generation"]),
        spec=spec_from_doc(spec, None if spec["host"] is None else _is(str, spec["host"])),
        status=status_from_doc(d["status"]), created_at=_time(d["created_at"]),
        updated_at=_time(d["updated_at"]),
    )


# --- flat records (every field an int, str, enum, datetime, tuple of str, resources or --
# --- host capabilities, maybe None) ------------------------------------------------------
def _plain(record: Any) -> Doc:
    return {f.name: _value_out(getattr(record, f.name)) for f in fields(record)}


def _value_out(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_value_out(v) for v in value]
    if isinstance(value, Resources):
        return {c: value.amount(c) for c in CLASSES}
    if isinstance(value, HostCapabilities):
        return capabilities_doc(value)
    return value


def _record(cls: type[T], d: Doc) -> T:
    """A field with a default may be missing (a document older than the field)."""
    hints = _hints(cls)
    return cls(**{name: _value_in(hint, d[name]) for name, hint in hints.items()
                  if name in d or name not in _DEFAULTED[cls]})


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = {f.name: get_type_hints(cls)[f.name] for f in fields(cls)}
        _DEFAULTED[cls] = frozenset(f.name for f in fields(cls) if f.default is not MISSING)
    return hints


_HINTS: dict[type[Any], dict[str, Any]] = {}
_DEFAULTED: dict[type[Any], frozenset[str]] = {}


def _value_in(hint: Any, value: Any) -> Any:
    if isinstance(hint, types.UnionType):  # X | None
        if value is None:
            return None
        (hint,) = [h for h in hint.__args__ if h is not type(None)]
    if hint is datetime:
        return _time(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if get_origin(hint) is tuple:  # tuple[str, ...]
        return tuple(_is(str, v) for v in _is(list, value))
    if hint is Resources:
        return Resources(**{c: _is(int, v) for c, v in _is(dict, value).items() if c in CLASSES})
    if hint is HostCapabilities:
        return capabilities_from_doc(_is(dict, value))
    return _is(hint, value)


def _time(value: Any) -> datetime:
    return utc(datetime.fromisoformat(_is(str, value)))


def _is(kind: type[T], value: Any) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{value!r} is not a {kind.__name__}")
    return value
