"""Live migration in the pure domain: derived states, directives, claims, records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tashi.domain.capabilities import Ability, HostCapabilities, HypervisorFacts
from tashi.domain.claims import ClaimRole, wanted_claims
from tashi.domain.derive import Directive, Observed, base_state, directive_for, shown_state
from tashi.domain.errors import InvalidInput
from tashi.domain.migration import (
    IncomingEndpoint,
    MigrationProgress,
    MigrationResult,
    MigrationSpec,
    MigrationTunables,
)
from tashi.domain.models import DiskSpec, Instance, InstanceSpec, InstanceStatus
from tashi.domain.states import TRANSITIONS, InstanceState, Power
from tashi.manager.migration import incompatible
from tashi.store.documents import spec_doc, spec_from_doc, status_doc, status_from_doc

S = InstanceState
NOW = datetime(2026, 12, 3, tzinfo=UTC)
MOVE = MigrationSpec(2, "h1", "h2", MigrationTunables(max_downtime_ms=50, postcopy=True),
                     "user admin")
SPEC = InstanceSpec(cores=2, memory_mib=256, disks=(DiskSpec("img"),), nics=(), host="h1",
                    migration=MOVE, migrations=2)
RUNNING = InstanceStatus(observed=Observed.RUNNING, ran=True)
READY = replace(RUNNING, incoming=IncomingEndpoint(2, "tcp:10.0.0.12:4000", "10.0.0.12", 4001))


def test_a_migration_is_prepared_then_transferred() -> None:
    assert base_state(SPEC, RUNNING) is S.MIGRATE_PREP
    assert directive_for(SPEC, RUNNING) is Directive.RUN  # the target is not ready yet
    assert base_state(SPEC, READY) is S.MIGRATE_TRANS
    assert directive_for(SPEC, READY) is Directive.MIGRATE
    # the source's VM, paused once it sent all, is still the migrating instance: the
    # agent is not told to thaw it
    sent = replace(READY, observed=Observed.PAUSED)
    assert base_state(SPEC, sent) is S.MIGRATE_TRANS
    assert directive_for(SPEC, sent) is Directive.MIGRATE


def test_an_endpoint_of_an_older_migration_does_not_count() -> None:
    old = replace(READY, incoming=replace(READY.incoming, number=1))  # type: ignore[type-var]
    assert base_state(SPEC, old) is S.MIGRATE_PREP


def test_intent_beats_the_migration() -> None:
    assert base_state(replace(SPEC, power=Power.DELETED), READY) is S.DESTROYING
    assert directive_for(replace(SPEC, power=Power.DELETED), READY) is Directive.ABSENT
    ended = replace(READY, observed=Observed.STOPPED, ended=True)
    assert base_state(SPEC, ended) is S.EXITED
    assert shown_state(SPEC, READY, host_silent=True) is S.ORPHANED


def test_migration_states_are_in_the_table() -> None:
    for old, new in ((S.RUNNING, S.MIGRATE_PREP), (S.MIGRATE_PREP, S.MIGRATE_TRANS),
                     (S.MIGRATE_TRANS, S.RUNNING), (S.MIGRATE_PREP, S.RUNNING),
                     (S.MIGRATE_PREP, S.EXITED), (S.MIGRATE_TRANS, S.EXITED)):
        assert new in TRANSITIONS[old], (old, new)


def _instance(spec: InstanceSpec, status: InstanceStatus) -> Instance:
    return Instance(1, "web", "alice", shown_state(spec, status, host_silent=False), spec,
                    status, 3, NOW, NOW)


def test_a_migration_claims_room_on_both_hosts() -> None:
    claims = wanted_claims(_instance(SPEC, READY))
    assert claims[ClaimRole.PRIMARY][0] == "h1"
    assert claims[ClaimRole.INCOMING][0] == "h2"
    assert claims[ClaimRole.INCOMING][1] == SPEC.resources
    assert ClaimRole.INCOMING not in wanted_claims(_instance(replace(SPEC, migration=None),
                                                             RUNNING))
    assert wanted_claims(_instance(replace(SPEC, power=Power.DELETED), READY)).keys() == {
        ClaimRole.PRIMARY}


def test_records_survive_the_store_documents() -> None:
    status = replace(READY, migrating=MigrationProgress(2, 40, 1000, 2000, 30, "memory"),
                     migrated=MigrationResult(2, "h1", "h2", 410, 12, NOW, 2048),
                     last_migration=MigrationResult(1, "h2", "h1", 300, 9, NOW))
    assert status_from_doc(status_doc(status)) == status
    assert spec_from_doc(spec_doc(SPEC), "h1") == SPEC
    assert "migration" not in spec_doc(replace(SPEC, migration=None, migrations=0))


@pytest.mark.parametrize(("tunables", "words"), [
    (MigrationTunables(max_downtime_ms=0), "max downtime 0 ms"),
    (MigrationTunables(bandwidth_mib_s=-1), "bandwidth -1"),
    (MigrationTunables(timeout_s=5), "timeout 5 s"),
])
def test_bad_tunables_say_which(tunables: MigrationTunables, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        tunables.check()


def _caps(**facts: object) -> HostCapabilities:
    base = {"hypervisor": "qemu", "version": "7.2.22", "accelerator": "tcg",
            "cpu_model": "max", "machine_types": frozenset({"pc"})}
    return HostCapabilities(HypervisorFacts(**{**base, **facts}),  # type: ignore[arg-type]
                            frozenset({Ability.LIVE_MIGRATION}))


def test_only_alike_hypervisors_take_each_others_vms() -> None:
    assert incompatible(_caps(), _caps()) == ""
    assert "hypervisor version is 8.2.2, not 7.2.22" in incompatible(_caps(),
                                                                     _caps(version="8.2.2"))
    assert "accelerator" in incompatible(_caps(), _caps(accelerator="kvm"))
    assert "host's CPU" in incompatible(_caps(cpu_model="host", host_cpu="A"),
                                        _caps(cpu_model="host", host_cpu="B"))
    assert "machine types pc" in incompatible(_caps(), _caps(machine_types=frozenset()))
    no_ability = HostCapabilities(_caps().facts)
    assert "cannot take live migrations" in incompatible(_caps(), no_ability)
    assert result_words() == "0.41 s total, 12 ms downtime, h1 -> h2"


def result_words() -> str:
    return MigrationResult(1, "h1", "h2", 410, 12).words()
