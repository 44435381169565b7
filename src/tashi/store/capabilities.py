"""A host's capabilities as a plain document (a JSON-ready dict) and back.

The SQL store keeps it in the hosts' ``capabilities`` column; export files and the
pickle store use the same shape. Sets are sorted lists; a field missing from an older
document reads as its default, and an ability this Tashi does not know (written by a
newer one) is left out.
"""

from __future__ import annotations

from typing import Any

from tashi.domain.capabilities import Ability, HostCapabilities, HypervisorFacts

_TEXTS = ("version", "accelerator", "cpu_model", "host_cpu")
_SETS = ("machine_types", "nic_models", "network_kinds", "disk_kinds", "disk_formats")
_ABILITIES = frozenset(a.value for a in Ability)


def capabilities_doc(caps: HostCapabilities | None) -> dict[str, Any] | None:
    """The document of ``caps`` (None stays None: never reported)."""
    if caps is None:
        return None
    facts = caps.facts
    doc: dict[str, Any] = {"hypervisor": facts.hypervisor}
    doc.update({key: getattr(facts, key) for key in _TEXTS})
    doc.update({key: sorted(getattr(facts, key)) for key in _SETS})
    doc["abilities"] = sorted(a.value for a in caps.abilities)
    return doc


def capabilities_from_doc(doc: dict[str, Any] | None) -> HostCapabilities | None:
    """The capabilities in ``doc``; raises TypeError or KeyError on a malformed one."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise TypeError(f"capabilities: an object expected, not {type(doc).__name__}")
    facts = HypervisorFacts(
        hypervisor=str(doc["hypervisor"]), version=_text(doc, "version"),
        accelerator=_text(doc, "accelerator"), cpu_model=_text(doc, "cpu_model"),
        host_cpu=_text(doc, "host_cpu"), machine_types=_set(doc, "machine_types"),
        nic_models=_set(doc, "nic_models"), network_kinds=_set(doc, "network_kinds"),
        disk_kinds=_set(doc, "disk_kinds"), disk_formats=_set(doc, "disk_formats"),
    )
    abilities = frozenset(Ability(a) for a in doc.get("abilities", ()) if a in _ABILITIES)
    return HostCapabilities(facts, abilities)


def _text(doc: dict[str, Any], key: str) -> str:
    return str(doc.get(key, ""))


def _set(doc: dict[str, Any], key: str) -> frozenset[str]:
    values = doc.get(key, [])
    if not isinstance(values, list):
        raise TypeError(f"capabilities.{key}: a list expected, not {type(values).__name__}")
    return frozenset(str(v) for v in values)
