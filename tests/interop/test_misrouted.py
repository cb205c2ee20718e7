"""A record on the wrong partition: confluent-kafka's Producer with
librdkafka's default partitioner (consistent_random: CRC32 of the key)
writes an event for an entity to commerce.events.raw, where it lands on
another partition than the entity's earlier events (Kafka's murmur2).

Enrich keeps each entity's state on its key's partition, so before the
check it enriched that event as a second "version 1" of the entity. Now
(README.md, "Reading the topics"):
  - the record is dead-lettered to commerce.events.dlq, class misrouted,
    on the partition it was written to, the error naming the partition it
    belongs on and the partitioner to use;
  - surge_stage_misrouted_total{stage="enrich"} counts it;
  - the entity does not fork: its next event is version 2, and no second
    version 1 exists;
  - a replay sends it to the partition its key belongs on, where it is
    enriched as the entity's newest event.
"""

import datetime as dt
import json
import os
import re
import time
import uuid
import zlib

import requests
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from interop import ENRICHED, H_CORRELATION_ID, H_EVENT_ID, H_EVENT_TYPE, H_SOURCE, RAW, java_partition, new_ksuid
from test_producer import partition_count, produce, split_key

EVENTS_DLQ = "commerce.events.dlq"
H_DLQ_CLASS = "surge.dlq.error-class"
H_DLQ_ERROR = "surge.dlq.error"
H_DLQ_PARTITION = "surge.dlq.partition"


def misrouted_count(url: str) -> float:
    """surge_stage_misrouted_total{stage="enrich",topic="commerce.events.raw"}
    from a Prometheus text page; 0 before the first one."""
    text = requests.get(url, timeout=10).text
    for line in text.splitlines():
        if not line.startswith("surge_stage_misrouted_total{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if re.search(r'stage="enrich"', labels) and re.search(rf'topic="{re.escape(RAW)}"', labels):
            return float(value)
    return 0.0


def metrics_url(surge) -> str:
    # scripts/interop.sh: surge dev serves every stage's metrics on the
    # admin listener; a standalone enrich on its own --metrics-addr.
    url = os.environ.get("INTEROP_ENRICH_METRICS_URL", "")
    return url or f"{surge.admin_url}/metrics"


def wait_for(what: str, cond, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s"
        time.sleep(0.5)


def test_record_from_librdkafkas_default_partitioner_is_caught(surge, registry, receiver):
    partitions = partition_count(surge.brokers, RAW)
    order_id = split_key(partitions)
    key = f"order:{order_id}"
    right = java_partition(key.encode(), partitions)
    before = misrouted_count(metrics_url(surge))

    r = surge.admin(
        "POST",
        "/v1/subscriptions",
        {
            "url": receiver.url,
            "event_types": ["order.*"],
            "filter": f'entity.id == "{order_id}"',
            "retry_schedule": ["1s", "2s", "5s"],
            "description": "interop test (misrouted record)",
        },
    )
    assert r.status_code == 201, f"creating the subscription: {r.status_code} {r.text}"
    sub = r.json()
    try:
        first_id = surge.post_event(
            {"type": "order.placed", "entity": {"type": "order", "id": order_id}, "data": {"total": 20.5, "status": "pending"}}
        )

        latest = registry.get_latest_version(f"{RAW}-value")
        serialize = AvroSerializer(registry, latest.schema, conf={"auto.register.schemas": False, "use.latest.version": True})
        now = dt.datetime.now(dt.timezone.utc)
        event_id, correlation_id = new_ksuid(), f"interop-{uuid.uuid4().hex}"
        event = {
            "id": event_id,
            "type": "order.updated",
            "source": "python-producer",
            "time": now,
            "received_at": now,
            "entity": {"type": "order", "id": order_id},
            "data": json.dumps({"status": "processing"}),
            "idempotency_key": None,
            "correlation_id": correlation_id,
            "format": "canonical",
            "original_type": "",
            "attributes": {"producer": "confluent-kafka-python, default partitioner"},
        }
        value = serialize(event, SerializationContext(RAW, MessageField.VALUE))
        headers = [(H_EVENT_ID, event_id), (H_CORRELATION_ID, correlation_id), (H_EVENT_TYPE, event["type"]), (H_SOURCE, event["source"])]
        # No partitioner setting: librdkafka's default, consistent_random.
        msg = produce(surge.brokers, RAW, key.encode(), value, headers)
        wrong = msg.partition()
        assert wrong == zlib.crc32(key.encode()) % partitions and wrong != right

        # Dead-lettered where it was written, saying where it belongs.
        def dead_letter():
            return [t for t in surge.tap(EVENTS_DLQ) if t["headers"].get(H_EVENT_ID) == event_id]

        dead = wait_for("the misrouted record in commerce.events.dlq", dead_letter)
        assert len(dead) == 1, f"{len(dead)} dead letters of {event_id}"
        d = dead[0]
        assert d["headers"][H_DLQ_CLASS] == "misrouted"
        assert d["partition"] == wrong and d["headers"][H_DLQ_PARTITION] == str(wrong)
        assert d["key"] == key and d["value"]["id"] == event_id
        err = d["headers"][H_DLQ_ERROR]
        assert f"belongs on partition {right}" in err and f"not on partition {wrong}" in err, err
        assert "partitioner=murmur2_random" in err, err

        # Counted.
        wait_for("surge_stage_misrouted_total to count it", lambda: misrouted_count(metrics_url(surge)) >= before + 1, timeout=30)

        # The entity did not fork: its next event is version 2.
        second_id = surge.post_event({"type": "order.updated", "entity": {"type": "order", "id": order_id}, "data": {"status": "shipped"}})
        hooks = receiver.wait(2, timeout=60)
        bodies = [h.json() for h in hooks]
        assert [b["id"] for b in bodies] == [first_id, second_id]
        assert [b["entity"]["version"] for b in bodies] == [1, 2]
        assert bodies[1]["data"] == {"total": 20.5, "status": "shipped"}
        enriched = [t for t in surge.tap(ENRICHED) if t["key"] == key]
        assert [t["value"]["entity"]["version"] for t in enriched] == [1, 2], "a second version 1: the entity forked"
        assert {t["partition"] for t in enriched} == {right}

        # Replayed, it goes to its key's partition and becomes the
        # entity's newest event.
        r = surge.admin("POST", "/v1/dlq/replays", {"topic": EVENTS_DLQ, "partitions": [wrong], "filter": f'id == "{event_id}"'})
        assert r.status_code == 202, f"replaying: {r.status_code} {r.text}"
        (hook,) = receiver.wait(1, timeout=60)  # the next one after the two above
        b = hook.json()
        assert b["id"] == event_id and b["entity"]["version"] == 3, b
        assert b["data"] == {"total": 20.5, "status": "processing"}
        enriched = [t for t in surge.tap(ENRICHED) if t["key"] == key]
        assert [t["value"]["entity"]["version"] for t in enriched] == [1, 2, 3]
        assert {t["partition"] for t in enriched} == {right}
    finally:
        surge.admin("DELETE", f"/v1/subscriptions/{sub['id']}")
