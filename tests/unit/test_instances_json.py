"""A list of instances is dumped from their fields, unvalidated (``instances_json``): the
same bytes as their ``InstanceOut`` models dumped one by one, every kind of field set."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tashi.api.convert import instance_fields, instance_out, instances_json
from tashi.api.schemas import InstanceOut
from tashi.domain.ha import HaRestart
from tashi.domain.models import (
    AvoidedHost,
    DiskBus,
    DiskCache,
    DiskSpec,
    Instance,
    InstanceSpec,
    InstanceStatus,
    NicSpec,
    Seed,
    StartFailure,
)
from tashi.domain.states import InstanceState, Power

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def everything_set() -> Instance:
    spec = InstanceSpec(
        cores=2, memory_mib=512,
        disks=(DiskSpec("guest", persistent=True), DiskSpec(size_gib=5, scratch=True,
                                                            bus=DiskBus.SCSI,
                                                            cache=DiskCache.NONE)),
        nics=(NicSpec("default", "52:54:00:00:00:01"), NicSpec("lab", "52:54:00:00:00:02",
                                                               "e1000")),
        host="h1", shutdown_timeout_s=30, target_host="h2", allow_elsewhere=True,
        group="g", anti_affinity=True, power=Power.PAUSED,
        seed=Seed("web", "#!/bin/sh\necho hi\n", ("ssh-ed25519 AAAA x",)), reboots=3,
        ha=True, restarted=HaRestart(1, "h0", AT - timedelta(minutes=2), AT))
    status = InstanceStatus(
        observed="running", message="its host reports it running", observed_at=AT,
        failures=(StartFailure("h0", "qemu died", AT - timedelta(hours=1)),),
        avoid=(AvoidedHost("h0", AT + timedelta(hours=1)),), retry_at=AT,
        reboots_done=2, saved=True, progress=40, last_failure="no room",
        recovered_at=AT + timedelta(seconds=5))
    return Instance(id=7, name="web", owner="alice", state=InstanceState.PAUSED, spec=spec,
                    status=status, generation=9, created_at=AT - timedelta(days=1),
                    updated_at=AT)


def test_the_list_is_the_models_dumped() -> None:
    instances = [everything_set(), Instance(
        id=8, name="bare", owner="bob", state=InstanceState.PENDING,
        spec=InstanceSpec(cores=1, memory_mib=128, disks=(), nics=()),
        status=InstanceStatus(), generation=1, created_at=AT, updated_at=AT)]
    models = [instance_out(i) for i in instances]
    assert instances_json(instances) == b"[" + b",".join(
        m.model_dump_json().encode() for m in models) + b"]"
    assert [InstanceOut.model_validate(d) for d in json.loads(instances_json(instances))] == (
        models)


def test_the_fields_are_the_models_in_its_order() -> None:
    assert list(instance_fields(everything_set())) == list(InstanceOut.model_fields)
