"""A data team's consumer: confluent-kafka (librdkafka) with Confluent's
AvroDeserializer and SchemaRegistryClient, given nothing but the brokers
and Surge's registry URL, reads commerce.events.enriched and gets exactly
what `surge tap` prints for the same record."""

import datetime as dt
import json
import time

from confluent_kafka import Consumer
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from interop import ENRICHED, H_CORRELATION_ID, H_EVENT_ID, java_partition, rfc3339_ms, tap_json


def consume_until(surge, registry, topic, want_id, timeout=60.0):
    """Reads topic from the beginning in a new consumer group, decoding
    every value with the registry, until the record of event want_id.
    Returns (message, decoded value, partition count)."""
    consumer = Consumer(
        {
            "bootstrap.servers": surge.brokers,
            "group.id": f"interop-reader-{want_id}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Surge writes in transactions: see only committed records.
            "isolation.level": "read_committed",
        }
    )
    deserialize = AvroDeserializer(registry)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, f"consuming {topic}: {msg.error()}"
            value = deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE, msg.headers()))
            if value["id"] == want_id:
                partitions = len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
                return msg, value, partitions
        raise AssertionError(f"event {want_id} not on {topic} within {timeout:.0f}s")
    finally:
        consumer.close()


def test_enriched_event_reads_the_same_as_surge_tap(surge, registry, order_id):
    key = f"order:{order_id}"
    # Text that JSON and Avro must both carry intact: non-ASCII, quotes,
    # a backslash, a nested list; floats and a string number.
    data = {
        "total": 159.9,
        "subtotal": "149.90",
        "note": 'café ☕ "rush" C:\\orders',
        "lines": [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}],
    }
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    event_id = surge.post_event({"type": "order.placed", "entity": {"type": "order", "id": order_id}, "data": data})

    msg, value, partitions = consume_until(surge, registry, ENRICHED, event_id)

    # What a Python reader sees, on its own terms.
    assert msg.key() == key.encode()
    assert msg.partition() == java_partition(msg.key(), partitions), (
        f"{key} is on partition {msg.partition()} of {partitions}; Kafka's murmur2 says "
        f"{java_partition(msg.key(), partitions)}"
    )
    assert value["type"] == "order.placed"
    assert value["source"] == "default"
    assert value["entity"] == {"type": "order", "id": order_id, "version": 1}
    assert json.loads(value["data"]) == data
    assert value["changes"] == sorted(data)
    for field in ("time", "received_at", "enriched_at"):
        assert isinstance(value[field], dt.datetime), f"{field} did not decode as a timestamp: {value[field]!r}"
        assert value[field] >= before, f"{field} {value[field]} is before the event was sent"
    headers = {k: v.decode() for k, v in (msg.headers() or [])}
    assert headers.get(H_EVENT_ID) == event_id
    assert H_CORRELATION_ID in headers

    # What `surge tap` prints for the same record.
    taps = [r for r in surge.tap(ENRICHED) if isinstance(r.get("value"), dict) and r["value"].get("id") == event_id]
    assert len(taps) == 1, f"surge tap printed {len(taps)} records of event {event_id}"
    t = taps[0]
    assert "value_error" not in t, t
    assert (t["topic"], t["partition"], t["offset"]) == (msg.topic(), msg.partition(), msg.offset())
    assert t["key"] == key
    assert t["headers"] == headers
    assert rfc3339_ms(t["timestamp"]) == msg.timestamp()[1]

    mine = tap_json(value)
    assert list(mine) == list(t["value"]), "fields are not in the same (schema) order"
    diff = {f: (mine[f], t["value"][f]) for f in mine if mine[f] != t["value"][f]}
    assert not diff, f"fields that differ (python, tap): {diff}"
