"""Control-plane metrics under Istio's names (so Istio's Grafana dashboards work)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["IstioCounter", "XdsMetrics"]

_CONVERGENCE_BUCKETS = (0.1, 0.5, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0)
_PUSH_BUCKETS = (0.01, 0.1, 0.5, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0)


class IstioCounter(Collector):
    """A labelled counter exposed under its exact name (Istio disables the ``_total`` suffix,
    so ``pilot_xds_pushes{type="cds"}`` and not ``pilot_xds_pushes_total``)."""

    def __init__(
        self, name: str, documentation: str, label: str, registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def inc(self, label_value: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[label_value] = self._values.get(label_value, 0.0) + amount

    def value(self, label_value: str) -> float:
        with self._lock:
            return self._values.get(label_value, 0.0)

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, "counter")
        with self._lock:
            for lv, v in sorted(self._values.items()):
                metric.add_sample(self.name, {self.label: lv}, v)
        yield metric


class XdsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.connected = Gauge(
            "pilot_xds",
            "Proxies currently connected over ADS.",
            ["version"],
            registry=registry,
        )
        self.pushes = IstioCounter(
            "pilot_xds_pushes",
            "xDS responses sent, by resource type.",
            "type",
            registry,
        )
        self.rejects = IstioCounter(
            "pilot_total_xds_rejects",
            "xDS responses a proxy rejected (NACK), by resource type.",
            "type",
            registry,
        )
        self.cache_reads = IstioCounter(
            "pilot_xds_cache_reads", "Lookups in the serialized-resource cache, by result (hit or miss).", "type", registry
        )
        self.convergence = Histogram(
            "pilot_proxy_convergence_time",
            "Seconds from the first config event of a push to the push reaching a proxy.",
            buckets=_CONVERGENCE_BUCKETS,
            registry=registry,
        )
        self.push_time = Histogram(
            "pilot_xds_push_time",
            "Seconds spent generating and sending one resource type to one proxy.",
            ["type"],
            buckets=_PUSH_BUCKETS,
            registry=registry,
        )
        self.send_time = Histogram(
            "pilot_xds_send_time",
            "Seconds spent writing one response to a proxy stream.",
            buckets=_PUSH_BUCKETS,
            registry=registry,
        )
