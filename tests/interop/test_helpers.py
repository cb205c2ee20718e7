"""The suite's own arithmetic, checked without a cluster: if these are
wrong, the partition and id checks elsewhere prove nothing."""

import datetime as dt

import pytest

from interop import _BASE62, _KSUID_EPOCH, java_partition, murmur2, new_ksuid, rfc3339_ms, tap_json

# Reference hashes of Kafka's own murmur2 tests (the same table Surge's
# pkg/kafkax test uses).
KAFKA_MURMUR2 = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
]


@pytest.mark.parametrize("key,want", KAFKA_MURMUR2)
def test_murmur2_matches_kafka(key, want):
    assert murmur2(key.encode()) == want


def test_java_partition_masks_the_sign_bit():
    # -973932308 & 0x7fffffff = 1173551340
    assert java_partition(b"21", 6) == 1173551340 % 6
    assert all(0 <= java_partition(k.encode(), 7) < 7 for k, _ in KAFKA_MURMUR2)


def test_ksuid_is_27_base62_chars_carrying_its_time():
    now = 1_780_000_000
    k = new_ksuid(now)
    assert len(k) == 27 and set(k) <= set(_BASE62)
    n = 0
    for c in k:
        n = n * 62 + _BASE62.index(c)
    assert n >> 128 == now - _KSUID_EPOCH
    assert new_ksuid(now) != k


def test_rfc3339_ms():
    assert rfc3339_ms("1970-01-01T00:00:01Z") == 1000
    assert rfc3339_ms("2026-01-02T03:04:05.67Z") == 1767323045670
    assert rfc3339_ms("2026-01-02T03:04:05.007Z") == 1767323045007


def test_tap_json_renders_timestamps_as_epoch_millis():
    t = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
    assert tap_json({"a": t, "b": [t], "c": "x"}) == {"a": 1767323045678, "b": [1767323045678], "c": "x"}
