"""Prometheus metrics, read from Redis at scrape time so that every API replica reports the same numbers."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from app.store import JobStore
from app.store.stats import DURATION_BUCKETS, read_stats


class StoreCollector(Collector):
    """Jobs by kind and status, queue lengths, job durations and worker heartbeats."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        jobs, durations = read_stats(self.store.r)
        counter = CounterMetricFamily(
            "stylewave_jobs", "Jobs that entered each status, by kind", labels=["kind", "status"]
        )
        for key, count in sorted(jobs.items()):
            kind, _, status = key.partition(":")
            counter.add_metric([kind, status], count)
        yield counter

        queue = GaugeMetricFamily("stylewave_queue_length", "Jobs waiting, by queue", labels=["queue"])
        for name, length in self.store.queue_lengths().items():
            queue.add_metric([name], length)
        yield queue

        hist = HistogramMetricFamily(
            "stylewave_job_duration_seconds", "Run time of finished jobs, by kind", labels=["kind"]
        )
        for kind, buckets in durations.items():
            pairs = [(str(b), buckets.get(str(b), 0.0)) for b in DURATION_BUCKETS]
            pairs.append(("+Inf", buckets.get("+Inf", 0.0)))
            hist.add_metric([kind], pairs, sum_value=buckets.get("sum", 0.0))
        yield hist

        beats = GaugeMetricFamily(
            "stylewave_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat",
            labels=["worker"],
        )
        now = self.store.workers.now()
        for worker, stamp in self.store.workers.heartbeats().items():
            beats.add_metric([worker], max(0.0, now - stamp))
        yield beats
