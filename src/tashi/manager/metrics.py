"""The manager's Prometheus metrics, on a registry of its own (never the process-wide
default one: tests and ``tashi up`` run several managers and agents in one process).

What the store holds (hosts by state and liveness, instances by state, each host's
heartbeat age) is read when Prometheus scrapes, by :class:`StoreCollector`: two queries
per scrape, and no counter to keep in step with every write. What happens and leaves no
record (bindings applied or refused, how long instances waited for one) is counted as it
happens, by :class:`BindingMetrics`. The API's own figures (requests by route, status and
latency) are counted by :mod:`tashi.api.metrics`.

Label values are enum values, error codes, route templates and names the domain
validates (:func:`tashi.domain.names.check_name`): never ids or free text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tashi.common.clock import Clock
from tashi.domain.errors import Conflict, InvalidTransition, NotFound
from tashi.domain.models import Host
from tashi.domain.states import HostState, InstanceState
from tashi.store.base import Store
from tashi.store.binding import BindResult
from tashi.store.failures import StoreHealth

#: Seconds from an instance's creation to its binding: a busy scheduler binds within a
#: second, a full cluster leaves instances Pending for hours.
SCHEDULING_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                        900.0, 3600.0, 4 * 3600.0)
#: Seconds a live-migrated VM is stopped between source and target.
DOWNTIME_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds an API request takes (long polls wait up to a minute).
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                     5.0, 10.0, 30.0, 60.0)
#: The errors a binding is refused with (:func:`tashi.store.binding.refusal`).
REFUSALS = (NotFound.code, Conflict.code, InvalidTransition.code)


class BindingMetrics:
    """Bindings applied and refused, and how long the bound instances waited."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._placed = Counter("tashi_manager_placements", "Instances bound to a host "
                               "(Pending -> Activating, or a resume placed)",
                               registry=registry)
        self._refused = Counter("tashi_manager_placement_refusals", "Bindings refused by "
                                "the store's check (nothing changed), by the error's code",
                                ["error"], registry=registry)
        for code in REFUSALS:  # each series there from the start, at 0
            self._refused.labels(code)
        self._latency = Histogram(
            "tashi_manager_scheduling_latency_seconds", "From an instance's creation to "
            "its binding to a host (placements of a resume are left out: they count from "
            "the suspend, not the creation)", buckets=SCHEDULING_BUCKETS_S,
            registry=registry)

    def observe(self, results: Sequence[BindResult], now: datetime) -> None:
        """Count the results of one batch of bindings, made at ``now``."""
        for r in results:
            if r.instance is not None:
                self._placed.inc()
                if r.instance.state is not InstanceState.RESUMING:
                    waited = (now - r.instance.created_at).total_seconds()
                    self._latency.observe(max(0.0, waited))
            elif r.error is not None:
                self._refused.labels(r.error.code).inc()


class StoreCollector(Collector):
    """Hosts and instances as the store holds them now, read at each scrape."""

    def __init__(self, store: Store, clock: Clock, is_up: Callable[[Host], bool]) -> None:
        """``is_up``: the manager's liveness rule (:meth:`HostService.is_up`), so that
        the count of hosts up is what ``tashi host list`` shows."""
        self._store = store
        self._clock = clock
        self._is_up = is_up

    def collect(self) -> Iterator[Metric]:
        yield from self._hosts(self._store.list_hosts())
        counts = self._store.count_instances()
        instances = GaugeMetricFamily("tashi_manager_instances", "Instances by state "
                                      "(as shown: Orphaned on a silent host)",
                                      labels=["state"])
        for state in InstanceState:
            instances.add_metric([state.value], counts.get(state, 0))
        yield instances
        yield self._usage_lag()

    def _usage_lag(self) -> Metric:
        """How far usage records lag: seconds since the last closed interval ended
        (left out before the first one closes; an interval closes a grace after it ends,
        so a healthy lag stays below one interval plus the grace)."""
        lag = GaugeMetricFamily("tashi_manager_usage_record_lag_seconds", "Seconds since "
                                "the end of the last usage interval whose records are "
                                "complete (closed)")
        closed = self._store.usage_closing().closed_until
        if closed is not None:
            lag.add_metric([], max(0.0, (self._clock.now() - closed).total_seconds()))
        return lag

    def _hosts(self, hosts: list[Host]) -> Iterator[Metric]:
        now = self._clock.now()
        by_state = GaugeMetricFamily(
            "tashi_manager_hosts", "Registered hosts by administrative state and by "
            "liveness (up: heartbeating within the timeout)", labels=["state", "up"])
        counts = {(s, up): 0 for s in HostState for up in (True, False)}
        age = GaugeMetricFamily(
            "tashi_manager_host_heartbeat_age_seconds", "Seconds since each host's last "
            "heartbeat (hosts that never sent one are left out)", labels=["host"])
        for h in hosts:
            counts[h.state, self._is_up(h)] += 1
            if h.last_heartbeat is not None:
                age.add_metric([h.name], max(0.0, (now - h.last_heartbeat).total_seconds()))
        for (state, up), n in counts.items():
            by_state.add_metric([state.value, str(up).lower()], n)
        yield by_state
        yield age


class ManagerMetrics:
    """The manager's metrics on ``registry``; :meth:`watch` adds what the store holds."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.bindings = BindingMetrics(registry)
        self.migration_downtime = Histogram(
            "tashi_manager_migration_downtime_seconds", "Live migrations and how long "
            "each VM was stopped",
            buckets=DOWNTIME_BUCKETS_S, registry=registry)
        # counted by the API's middleware (tashi.api.metrics)
        self.http_requests = Counter("tashi_manager_http_requests", "API requests answered, "
                                     "by method, route template and status",
                                     ["method", "route", "status"], registry=registry)
        self.http_latency = Histogram("tashi_manager_http_request_duration_seconds",
                                      "Seconds from an API request's arrival to its answer's "
                                      "last byte, by method and route template",
                                      ["method", "route"], buckets=LATENCY_BUCKETS_S,
                                      registry=registry)
        self.store_failures = Counter("tashi_manager_store_failures", "Requests that failed "
                                      "on the store's storage, by kind (full, read-only, "
                                      "unreachable)", ["kind"], registry=registry)
        self.store_health = StoreHealth()  # the last of them, for /healthz

    def watch(self, store: Store, clock: Clock, is_up: Callable[[Host], bool]) -> None:
        self.registry.register(StoreCollector(store, clock, is_up))
