"""A foreign producer: confluent-kafka's Producer with Confluent's
AvroSerializer writes an Event to commerce.events.raw with the schema the
registry holds (never registering one), and Surge enriches and delivers it
like an event that came through ingest.

What such a producer must do, all of it checked here (README.md of this
directory says why):
  - key the record "<entity_type>:<entity_id>" (enrich dead-letters a
    record whose key is not its entity's key);
  - partition with murmur2 like the Java client (librdkafka's default is
    CRC32), or the entity's events split over partitions;
  - serialise with the subject's latest schema, auto-registration off;
  - set the surge.event-id and surge.correlation-id headers (enrich carries
    them on; `surge trace` finds records by surge.event-id), and a ksuid id.
"""

import datetime as dt
import json
import uuid
import zlib

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from interop import (
    ENRICHED,
    H_CORRELATION_ID,
    H_EVENT_ID,
    H_EVENT_TYPE,
    H_SOURCE,
    RAW,
    java_partition,
    new_ksuid,
    rfc3339_ms,
    tap_json,
    verify_signature,
)

# The Java-compatible partitioner in librdkafka (murmur2 of the key,
# random for a null key). Without it librdkafka uses consistent_random:
# CRC32 of the key.
JAVA_PARTITIONER = {"partitioner": "murmur2_random"}


def partition_count(brokers: str, topic: str) -> int:
    md = AdminClient({"bootstrap.servers": brokers}).list_topics(topic, timeout=10)
    t = md.topics[topic]
    assert t.error is None, f"{topic}: {t.error}"
    return len(t.partitions)


def split_key(partitions: int) -> str:
    """An order id whose key murmur2 and CRC32 put on different partitions,
    so a producer with librdkafka's default partitioner could not pass."""
    while True:
        oid = f"interop-{uuid.uuid4().hex[:12]}"
        key = f"order:{oid}".encode()
        if java_partition(key, partitions) != zlib.crc32(key) % partitions:
            return oid


def produce(brokers: str, topic: str, key: bytes, value: bytes, headers=None, conf=None):
    """Produces one record, waits for its acknowledgement, returns it."""
    p = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True, **(conf or {})})
    reports = []
    p.produce(topic, key=key, value=value, headers=headers, on_delivery=lambda err, msg: reports.append((err, msg)))
    assert p.flush(30) == 0, "the record was not acknowledged within 30s"
    (err, msg), = reports
    assert err is None, f"producing to {topic}: {err}"
    return msg


def test_librdkafka_default_partitioner_is_not_javas(surge):
    """Why the producer below sets partitioner=murmur2_random: with the
    default, a key lands where CRC32 says, not where Surge and Java put it."""
    topic = f"interop.partitioner.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": surge.brokers})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(30)
    try:
        key = f"order:{split_key(6)}".encode()
        default = produce(surge.brokers, topic, key, b"x")
        java = produce(surge.brokers, topic, key, b"x", conf=JAVA_PARTITIONER)
        assert default.partition() == zlib.crc32(key) % 6
        assert java.partition() == java_partition(key, 6)
        assert default.partition() != java.partition()
    finally:
        admin.delete_topics([topic])[topic].result(30)


def test_python_producer_event_is_enriched_and_delivered(surge, registry, receiver):
    partitions = partition_count(surge.brokers, RAW)
    order_id = split_key(partitions)
    key = f"order:{order_id}"

    # The subscription first: fanout never delivers an event enriched
    # before the subscription existed.
    r = surge.admin(
        "POST",
        "/v1/subscriptions",
        {
            "url": receiver.url,
            "event_types": ["order.*"],
            "filter": f'entity.id == "{order_id}"',
            "retry_schedule": ["1s", "2s", "5s"],
            "description": "interop test (python producer)",
        },
    )
    assert r.status_code == 201, f"creating the subscription: {r.status_code} {r.text}"
    sub = r.json()
    try:
        # The entity's first event comes through ingest, so the Python
        # event has to land on the partition holding the entity's state
        # for its version to be 2.
        first_id = surge.post_event(
            {"type": "order.placed", "entity": {"type": "order", "id": order_id}, "data": {"total": 20.5, "status": "pending"}}
        )

        latest = registry.get_latest_version(f"{RAW}-value")
        assert json.loads(latest.schema.schema_str)["name"] == "Event"
        serialize = AvroSerializer(
            registry,
            latest.schema,
            conf={"auto.register.schemas": False, "use.latest.version": True},
        )
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
            "attributes": {"producer": "confluent-kafka-python"},
        }
        value = serialize(event, SerializationContext(RAW, MessageField.VALUE))
        assert value[0] == 0 and int.from_bytes(value[1:5], "big") == latest.schema_id, "not the registered schema's id"
        headers = [
            (H_EVENT_ID, event_id),
            (H_CORRELATION_ID, correlation_id),
            (H_EVENT_TYPE, event["type"]),
            (H_SOURCE, event["source"]),
        ]
        msg = produce(surge.brokers, RAW, key.encode(), value, headers, conf=JAVA_PARTITIONER)
        assert msg.partition() == java_partition(key.encode(), partitions)

        hooks = receiver.wait(2, timeout=60)
        bodies = [h.json() for h in hooks]
        assert [b["id"] for b in bodies] == [first_id, event_id], "not delivered, or out of order"
        b = bodies[1]
        assert b["type"] == "order.updated"
        assert b["source"] == "python-producer"
        assert rfc3339_ms(b["time"]) == tap_json(now)  # Avro keeps milliseconds
        assert b["entity"] == {"type": "order", "id": order_id, "version": 2}
        assert b["data"] == {"total": 20.5, "status": "processing"}
        assert b["changes"] == ["status"]
        for h in hooks:
            verify_signature(sub["secret"], h)

        # Enrich kept the record on the raw record's partition and carried
        # the producer's ids on.
        taps = [t for t in surge.tap(ENRICHED) if isinstance(t.get("value"), dict) and t["value"].get("id") == event_id]
        assert len(taps) == 1, f"surge tap printed {len(taps)} enriched records of event {event_id}"
        t = taps[0]
        assert t["key"] == key and t["partition"] == msg.partition()
        assert t["headers"].get(H_EVENT_ID) == event_id
        assert t["headers"].get(H_CORRELATION_ID) == correlation_id
        assert t["value"]["correlation_id"] == correlation_id
        assert t["value"]["attributes"] == {"producer": "confluent-kafka-python"}

        # `surge trace` follows the foreign event like one from ingest.
        steps = [json.loads(line) for line in surge.run("trace", event_id, "--json", "--timeout", "30s").splitlines() if line.strip()]
        stages = {s.get("stage") for s in steps}
        assert {"ingest", "enrich", "fanout", "dispatcher"} <= stages, f"trace saw only {sorted(stages)}"
    finally:
        surge.admin("DELETE", f"/v1/subscriptions/{sub['id']}")
