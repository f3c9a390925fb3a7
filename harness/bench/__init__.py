"""`make bench`: benchmarks of a local stack, reported as ratios against baselines measured in
the same run on the same machine (never a timed assertion in a test).

- pipeline: throughput at saturation and end-to-end latency at fixed offered loads;
- ceiling: the same three hops (publish → consume → republish, same sizes, acks, batches) with
  nats-py and empty handlers on the same NATS server — what the pipeline could at most do;
- overhead: the gateway's `GET /commands/{id}` beside the same read from a bare ASGI app
  served the same way on the same database.
"""
