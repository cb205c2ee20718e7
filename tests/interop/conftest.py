"""Fixtures of the interop suite.

scripts/interop.sh starts Surge and passes its addresses in INTEROP_*
variables (not SURGE_*: the surge binary reads those as its own flags).
Run without them, every test that needs Surge fails with a message saying
so rather than skipping: a skipped interop suite would look green.
"""

import os
import uuid

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from interop import Receiver, Surge


def _env(name: str) -> str:
    v = os.environ.get(name, "")
    if not v:
        pytest.fail(f"{name} is not set: run this suite through scripts/interop.sh", pytrace=False)
    return v


@pytest.fixture(scope="session")
def surge() -> Surge:
    token = os.environ.get("INTEROP_ADMIN_TOKEN", "")
    if not token:
        # surge dev generates the token into <data-dir>/admin-token.
        with open(os.path.join(_env("INTEROP_DATA_DIR"), "admin-token"), encoding="utf-8") as f:
            token = f.read().strip()
    return Surge(
        mode=_env("INTEROP_MODE"),
        brokers=_env("INTEROP_BROKERS"),
        registry_url=_env("INTEROP_REGISTRY_URL"),
        ingest_url=_env("INTEROP_INGEST_URL"),
        admin_url=_env("INTEROP_ADMIN_URL"),
        admin_token=token,
        surge_bin=_env("INTEROP_SURGE_BIN"),
    )


@pytest.fixture(scope="session")
def registry(surge: Surge) -> SchemaRegistryClient:
    """Confluent's registry client, given nothing but Surge's registry URL."""
    return SchemaRegistryClient({"url": surge.registry_url})


@pytest.fixture
def order_id() -> str:
    """An order id no other run uses, so a broker that still holds earlier
    runs' records cannot satisfy a check by accident."""
    return f"interop-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
