"""The manager's composition root: every service, wired once from its parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from tashi.common.clock import Clock
from tashi.identity.sources.directory import UserDirectory
from tashi.identity.users import UserService
from tashi.manager.accounting import AccountingService
from tashi.manager.displays import DisplayService
from tashi.manager.evacuation import EvacuationService
from tashi.manager.events import EventService
from tashi.manager.ha import HaService
from tashi.manager.hosts import HostService
from tashi.manager.images import ImageService
from tashi.manager.instances import InstanceService
from tashi.manager.metrics import ManagerMetrics
from tashi.manager.migration import MigrationService
from tashi.manager.networks import NetworkService
from tashi.manager.notifier import Notifier
from tashi.manager.quotas import QuotaService
from tashi.manager.reports import ReportService
from tashi.manager.scheduling import SchedulingService
from tashi.manager.usage import UsageService
from tashi.manager.usage_reports import UsageReportService
from tashi.store.base import Store


@dataclass(frozen=True)
class ManagerCore:
    store: Store
    clock: Clock
    notifier: Notifier
    instances: InstanceService
    reports: ReportService
    migrations: MigrationService
    evacuations: EvacuationService
    ha: HaService
    hosts: HostService
    images: ImageService
    networks: NetworkService
    users: UserService
    events: EventService
    scheduling: SchedulingService
    displays: DisplayService
    usage: UsageService
    accounting: AccountingService
    quotas: QuotaService
    usage_reports: UsageReportService
    max_wait_s: float
    metrics: ManagerMetrics

    @classmethod
    def build(cls, store: Store, clock: Clock, *, image_dir: Path, heartbeat_timeout_s: float,
              join_token: str | None, max_wait_s: float = 30.0,
              directory: UserDirectory | None = None,
              notifier: Notifier | None = None, migrations_per_host: int = 2,
              ha_lease_s: float | None = None) -> ManagerCore:
        """``notifier``: what wakes long-polls (default: the in-process one, for a single
        manager); :func:`tashi.manager.pgnotify.notifier_for` picks it by store URL.
        ``ha_lease_s``: a host's lease, after which its HA instances are restarted
        elsewhere (default: the heartbeat timeout).
        Its metrics are kept on a registry of its own (see :mod:`tashi.manager.metrics`)."""
        notifier = notifier or Notifier()
        metrics = ManagerMetrics(CollectorRegistry())
        instances = InstanceService(store, clock, notifier, metrics=metrics.bindings)
        hosts = HostService(store, clock, notifier, instances=instances,
                            heartbeat_timeout_s=heartbeat_timeout_s, join_token=join_token)
        metrics.watch(store, clock, hosts.is_up)
        migrations = MigrationService(store, clock, notifier, instances, hosts.is_up,
                                      metrics.migration_downtime.observe,
                                      per_host=migrations_per_host)
        ha = HaService(store, clock, instances, since=hosts.started,
                       lease_s=heartbeat_timeout_s if ha_lease_s is None else ha_lease_s)
        return cls(
            store=store, clock=clock, notifier=notifier, instances=instances,
            reports=ReportService(store, clock, notifier, instances, migrations,
                                  ha_lease_s=ha.lease_s), ha=ha,
            migrations=migrations, hosts=hosts,
            evacuations=EvacuationService(store, hosts, instances, migrations),
            images=ImageService(store, image_dir), networks=NetworkService(store),
            users=UserService(store, clock, directory=directory),
            events=EventService(store, instances),
            scheduling=SchedulingService(store, clock, hosts),
            displays=DisplayService(store, notifier, instances),
            usage=UsageService(store, clock), accounting=AccountingService(store, clock),
            quotas=QuotaService(store), usage_reports=UsageReportService(store),
            max_wait_s=max_wait_s, metrics=metrics,
        )
