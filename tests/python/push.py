"""Pushes to a gateway with PyPI's prometheus-client, as a batch job would.

Usage: python3 push.py URL [gzip] [snappy]

Pushes one registry (a counter, a gauge, a histogram and a summary) with
push_to_gateway (PUT) and pushadd_to_gateway (POST) to job "py_batch" with a
grouping key whose instance value has a "/" (the client sends it as
instance@base64/...), then once more per compression named on the command
line to jobs "py_gzip" and "py_snappy", and last deletes the "py_batch"
group with delete_from_gateway (DELETE). Any answer but 2xx raises, so the
exit status says whether every request was accepted.
"""

import sys

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)


def main():
    url = sys.argv[1]
    compressions = sys.argv[2:]

    registry = CollectorRegistry()
    jobs = Counter("py_jobs", "Jobs done.", ["queue"], registry=registry)
    jobs.labels("a").inc(3)
    last = Gauge("py_last_success_seconds", "Last success.", registry=registry)
    last.set(1.7e9)
    duration = Histogram(
        "py_duration_seconds", "Job duration.", buckets=(0.1, 1, 10), registry=registry
    )
    duration.observe(0.5)
    duration.observe(5)
    size = Summary("py_size_bytes", "Payload size.", registry=registry)
    size.observe(100)

    grouping = {"instance": "host/1", "zone": "eu"}
    push_to_gateway(url, job="py_batch", registry=registry, grouping_key=grouping)
    pushadd_to_gateway(url, job="py_batch", registry=registry, grouping_key=grouping)
    for compression in compressions:
        pushadd_to_gateway(
            url, job="py_" + compression, registry=registry, compression=compression
        )
    delete_from_gateway(url, job="py_batch", grouping_key=grouping)
    print("pushed", 2 + len(compressions), "and deleted 1")


if __name__ == "__main__":
    main()
