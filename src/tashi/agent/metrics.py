"""The agent's Prometheus metrics, on a registry of its own (or the one it is given:
``tashi up`` gives its agent the manager's, so the manager's ``/metrics`` shows both).

Per instance, the figures of the latest usage sample (:mod:`tashi.agent.usage`), labelled
with the instance's id and name (names are validated: :func:`tashi.domain.names.check_name`):
CPU seconds, disk and network bytes as counters whose start (``_created``) is when the
VM's process started (a restarted VM counts from 0 again, which Prometheus reads as a
counter reset), and the resident memory as a gauge. Network bytes appear only where they
are measured (not for user-mode NICs: see :data:`tashi.domain.usage.NET_NOT_MEASURED`).
Besides, the calls to the manager that failed, by call.

:class:`MetricsServer` serves a registry over HTTP (``metrics_listen``), with
``prometheus_client``'s own server: a thread of its own, apart from the agent's loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tashi.domain.errors import InvalidInput, TashiError
from tashi.domain.usage import VmUsage

log = logging.getLogger(__name__)

#: The calls to the manager whose failures are counted.
CALLS = ("heartbeat", "watch", "report")
LABELS = ["instance_id", "instance_name"]


class UsageCollector(Collector):
    """The latest figures of each instance this host runs, read at each scrape."""

    def __init__(self, figures: Callable[[], Mapping[int, VmUsage]],
                 names: Callable[[], Mapping[int, str]]) -> None:
        """``figures``: the latest sample's, by instance id; ``names``: the names of the
        instances wanted here now (a sampled instance gone since is left out)."""
        self._figures = figures
        self._names = names

    def collect(self) -> Iterator[Metric]:
        def counter(what: str, help_text: str) -> CounterMetricFamily:
            return CounterMetricFamily(f"tashi_agent_instance_{what}", help_text, labels=LABELS)

        cpu = counter("cpu_seconds", "CPU seconds (user + system) of the VM's process")
        read = counter("disk_read_bytes", "Bytes the VM read from its disks")
        written = counter("disk_written_bytes", "Bytes the VM wrote to its disks")
        rx = counter("network_receive_bytes", "Bytes the VM's NICs received "
                     "(not measured for user-mode networks: left out)")
        tx = counter("network_transmit_bytes", "Bytes the VM's NICs sent "
                     "(not measured for user-mode networks: left out)")
        rss = GaugeMetricFamily("tashi_agent_instance_memory_rss_bytes", "Resident memory of "
                                "the VM's process", labels=LABELS)
        names = self._names()
        for instance_id, usage in sorted(self._figures().items()):
            name = names.get(instance_id)
            if name is None:
                continue
            labels = [str(instance_id), name]
            since = usage.started_at.timestamp()
            cpu.add_metric(labels, usage.cpu_seconds, created=since)
            read.add_metric(labels, usage.disk_read_bytes, created=since)
            written.add_metric(labels, usage.disk_written_bytes, created=since)
            if usage.net_rx_bytes is not None and usage.net_tx_bytes is not None:
                rx.add_metric(labels, usage.net_rx_bytes, created=since)
                tx.add_metric(labels, usage.net_tx_bytes, created=since)
            rss.add_metric(labels, usage.memory_rss_bytes)
        yield from (cpu, rss, read, written, rx, tx)


class AgentMetrics:
    """One agent's metrics on ``registry``."""

    def __init__(self, registry: CollectorRegistry,
                 figures: Callable[[], Mapping[int, VmUsage]],
                 names: Callable[[], Mapping[int, str]]) -> None:
        self.registry = registry
        self._failures = Counter("tashi_agent_manager_call_failures", "Calls of this agent "
                                 "to the manager that failed (unreachable, refused, 5xx), "
                                 "by call", ["call"], registry=registry)
        for call in CALLS:  # each series there from the start, at 0
            self._failures.labels(call)
        registry.register(UsageCollector(figures, names))

    def failed(self, call: str) -> None:
        """Count a failed ``call`` (one of :data:`CALLS`)."""
        self._failures.labels(call).inc()


def parse_listen(listen: str) -> tuple[str, int]:
    """``ADDRESS:PORT`` (``[::1]:9470`` for IPv6; port 0: any free one) as its parts;
    InvalidInput naming the setting otherwise."""
    address, colon, port = listen.rpartition(":")
    address = address.removeprefix("[").removesuffix("]")
    if not colon or not address or not port.isascii() or not port.isdigit() \
            or int(port) > 65535:
        raise InvalidInput(f"metrics_listen {listen!r} is not ADDRESS:PORT "
                           "(e.g. 127.0.0.1:9470, [::1]:9470)")
    return address, int(port)


class MetricsServer:
    """``registry`` served over HTTP on ``listen`` (``ADDRESS:PORT``) until closed."""

    def __init__(self, listen: str, registry: CollectorRegistry, *, host: str) -> None:
        """TashiError naming the host and the address if it cannot listen there."""
        address, port = parse_listen(listen)
        try:
            served: tuple[WSGIServer, Thread] = start_http_server(port, address,
                                                                   registry=registry)
        except OSError as exc:
            raise TashiError(f"host {host}: cannot serve metrics on {listen}: "
                             f"{exc.strerror or exc}") from exc
        self._server, self._thread = served
        self.address: tuple[str, int] = self._server.server_address[:2]  # type: ignore[assignment]
        log.info("host %s: metrics served on http://%s/metrics", host, self.url_host)

    @property
    def url_host(self) -> str:
        address, port = self.address
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
