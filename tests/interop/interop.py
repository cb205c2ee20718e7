"""What the interop tests share: where Surge runs and how to talk to it,
the Java client's partitioner, Surge's event ids, tap's JSON conventions,
and a webhook receiver. Written from the specifications (Kafka's
Utils.murmur2, the ksuid layout, Standard Webhooks), not copied."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import requests

HTTP_TIMEOUT = 10  # seconds, for every call to ingest and the admin API

# Surge's topic and subject names (pkg/topics; subjects are <topic>-value).
RAW = "commerce.events.raw"
ENRICHED = "commerce.events.enriched"

# Record headers ingest writes (pkg/topics); enrich carries the first two on.
H_EVENT_ID = "surge.event-id"
H_CORRELATION_ID = "surge.correlation-id"
H_EVENT_TYPE = "surge.event-type"
H_SOURCE = "surge.source"


# ---------------------------------------------------------------------------
# Partitioning
# ---------------------------------------------------------------------------


def murmur2(data: bytes) -> int:
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2: MurmurHash2,
    seed 0x9747b28c, little-endian 4-byte blocks, as a signed 32-bit int."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    n = len(data)
    h = (0x9747B28C ^ n) & mask
    blocks = n // 4
    for i in range(blocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = data[4 * blocks :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """Where Kafka's Java producer (and Surge, and librdkafka's
    murmur2_random partitioner) puts a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---------------------------------------------------------------------------
# Event ids
# ---------------------------------------------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000


def new_ksuid(now: Optional[float] = None) -> str:
    """A ksuid like the ones ingest mints: 4 bytes of seconds since
    2014-05-13T16:53:20Z, 16 random bytes, base62 in 27 characters. Sortable
    by time, and `surge trace` reads the time back to know where to search."""
    secs = int(now if now is not None else time.time()) - _KSUID_EPOCH
    n = int.from_bytes(secs.to_bytes(4, "big") + os.urandom(16), "big")
    out = []
    for _ in range(27):
        n, d = divmod(n, 62)
        out.append(_BASE62[d])
    return "".join(reversed(out))


# ---------------------------------------------------------------------------
# Normalising values the way `surge tap` prints them
# ---------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def tap_json(v):
    """Renders a value fastavro decoded the way `surge tap` prints Avro as
    JSON: timestamp-millis as epoch milliseconds (fastavro gives aware
    datetimes), everything else as it is, recursively."""
    if isinstance(v, dt.datetime):
        return (v - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(v, dict):
        return {k: tap_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tap_json(x) for x in v]
    return v


def rfc3339_ms(s: str) -> int:
    """Epoch milliseconds of an RFC 3339 time as Go's encoding/json writes a
    UTC time.Time ("2026-01-02T03:04:05.67Z", trailing zeros trimmed)."""
    main, _, frac = s.rstrip("Z").partition(".")
    t = dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    ms = int((frac + "000")[:3]) if frac else 0
    return (t - _EPOCH) // dt.timedelta(milliseconds=1) + ms


# ---------------------------------------------------------------------------
# Surge
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Surge:
    """The Surge under test, as scripts/interop.sh started it."""

    mode: str  # "embedded" (surge dev) or "kafka" (standalone services, real broker)
    brokers: str
    registry_url: str
    ingest_url: str
    admin_url: str
    admin_token: str
    surge_bin: str

    def post_event(self, event: dict) -> str:
        """POSTs one canonical event to ingest; returns the id ingest minted."""
        r = requests.post(f"{self.ingest_url}/v1/events", json=event, timeout=HTTP_TIMEOUT)
        assert r.status_code == 202, f"ingest answered {r.status_code}: {r.text}"
        return r.json()["id"]

    def admin(self, method: str, path: str, body: Optional[dict] = None) -> requests.Response:
        return requests.request(
            method,
            f"{self.admin_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=HTTP_TIMEOUT,
        )

    def run(self, *args: str, timeout: float = 60) -> str:
        """Runs bin/surge with args against this Surge; returns its stdout."""
        cmd = [self.surge_bin, *args, "--brokers", self.brokers, "--registry", self.registry_url]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr}"
        return p.stdout

    def tap(self, topic: str) -> list:
        """Every committed record of topic, as `surge tap` prints it (one
        parsed JSON object per record)."""
        out = self.run("tap", topic, "--from-beginning", "--exit-at-end")
        return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------


@dataclass
class Webhook:
    headers: dict  # names lower-cased
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP endpoint on loopback that answers 204 to every POST and keeps
    what it got, for the dispatcher to deliver to."""

    def __init__(self) -> None:
        got: "queue.Queue[Webhook]" = queue.Queue()
        self._got = got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got.put(Webhook({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass  # keep pytest's output to the point

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def wait(self, count: int, timeout: float) -> list:
        """The first count distinct deliveries (by webhook-id: the dispatcher
        may send one again), in arrival order; AssertionError after timeout
        seconds."""
        deadline = time.monotonic() + timeout
        seen: dict = {}
        while len(seen) < count:
            left = deadline - time.monotonic()
            assert left > 0, (
                f"{len(seen)} of {count} webhooks arrived within {timeout:.0f}s: "
                f"{[w.json().get('id') for w in seen.values()]}"
            )
            try:
                w = self._got.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            seen.setdefault(w.headers.get("webhook-id", ""), w)
        return list(seen.values())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def verify_signature(secret: str, w: Webhook) -> None:
    """Checks a Standard Webhooks signature from the specification, with
    the standard library only: "v1,<base64 HMAC-SHA256(key, id.ts.body)>",
    the key being the base64 after "whsec_"."""
    assert secret.startswith("whsec_"), secret
    key = base64.b64decode(secret[len("whsec_") :])
    signed = f"{w.headers['webhook-id']}.{w.headers['webhook-timestamp']}.".encode() + w.body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    got = [s.split(",", 1)[1] for s in w.headers["webhook-signature"].split() if s.startswith("v1,")]
    assert any(hmac.compare_digest(want, g) for g in got), f"no v1 signature matches: {w.headers['webhook-signature']}"
    assert abs(int(w.headers["webhook-timestamp"]) - time.time()) < 300
