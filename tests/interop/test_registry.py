"""Surge's schema registry as confluent-kafka's SchemaRegistryClient calls
it: get_latest_with_metadata and the compatibility checks, the calls that
used to fail or answer differently from Confluent's registry. Each test
works on a subject of its own and deletes it afterwards, so Surge's own
subjects are never touched."""

import json
import uuid

import pytest
import requests
from confluent_kafka.schema_registry import (
    Metadata,
    MetadataProperties,
    Schema,
    SchemaRegistryClient,
)
from confluent_kafka.schema_registry.error import SchemaRegistryError

from interop import HTTP_TIMEOUT

V1 = {"type": "record", "name": "Order", "namespace": "interop.v1", "fields": [
    {"name": "id", "type": "string"},
    {"name": "total", "type": "string"},
]}
# An optional field: BACKWARD compatible with V1.
V2 = {**V1, "fields": V1["fields"] + [{"name": "currency", "type": "string", "default": "EUR"}]}
# A field without a default: not BACKWARD compatible with V2.
V3_REQUIRED = {**V2, "fields": V2["fields"] + [{"name": "channel", "type": "string"}]}
INVALID = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "strng"}]}


def avro(schema: dict) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


@pytest.fixture
def subject(registry: SchemaRegistryClient):
    """A subject with V1 and V2 registered, deleted after the test."""
    name = f"interop-{uuid.uuid4().hex[:12]}-value"
    registry.register_schema(name, avro(V1))
    registry.register_schema(name, avro(V2))
    yield name
    for permanent in (False, True):
        try:
            registry.delete_subject(name, permanent=permanent)
        except SchemaRegistryError:
            pass  # already soft-deleted (a test deleted its versions)


def registry_error(call) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as e:
        call()
    return e.value


def test_get_latest_with_metadata(surge, registry: SchemaRegistryClient, subject: str):
    latest = registry.get_latest_version(subject)
    assert latest.version == 2

    # No metadata asked for: the latest version, as get_latest_version.
    got = registry.get_latest_with_metadata(subject, {})
    assert (got.subject, got.version, got.schema_id) == (subject, 2, latest.schema_id)
    assert json.loads(got.schema.schema_str) == V2

    # Surge's schemas carry no metadata: any property asked for matches
    # nothing, with Confluent's "schema not found".
    err = registry_error(lambda: registry.get_latest_with_metadata(subject, {"application.major.version": "2"}))
    assert (err.http_status_code, err.error_code) == (404, 40403), err

    err = registry_error(lambda: registry.get_latest_with_metadata(f"interop-{uuid.uuid4().hex[:12]}-value", {}))
    assert (err.http_status_code, err.error_code) == (404, 40401), err

    # Soft-deleted versions count only with deleted=True. (The client
    # caches answers; a fresh client asks the registry again.)
    registry.delete_version(subject, 2)
    fresh = SchemaRegistryClient({"url": surge.registry_url})
    assert fresh.get_latest_with_metadata(subject, {}).version == 1
    assert fresh.get_latest_with_metadata(subject, {}, deleted=True).version == 2


def test_test_compatibility(surge, registry: SchemaRegistryClient, subject: str):
    assert registry.test_compatibility(subject, avro(V2)) is True
    assert registry.test_compatibility(subject, avro(V3_REQUIRED)) is False
    assert registry.test_compatibility(subject, avro(V3_REQUIRED), verbose=True) is False
    assert registry.test_compatibility(subject, avro(V3_REQUIRED), version=1, verbose=True) is False
    assert registry.test_compatibility_all_versions(subject, avro(V3_REQUIRED), verbose=True) is False
    assert registry.test_compatibility_all_versions(subject, avro(V2)) is True

    # An invalid schema: 422 without verbose, "not compatible" with it.
    err = registry_error(lambda: registry.test_compatibility(subject, avro(INVALID)))
    assert (err.http_status_code, err.error_code) == (422, 42201), err
    assert registry.test_compatibility(subject, avro(INVALID), verbose=True) is False

    # The client returns only the verdict; the verbose messages it was
    # given, read directly, are Confluent's shape.
    url = f"{surge.registry_url}/compatibility/subjects/{subject}/versions/latest"
    body = {"schema": json.dumps(V3_REQUIRED)}
    plain = requests.post(url, json=body, timeout=HTTP_TIMEOUT).json()
    assert plain == {"is_compatible": False}
    verbose = requests.post(url, params={"verbose": "true"}, json=body, timeout=HTTP_TIMEOUT).json()
    assert verbose["is_compatible"] is False
    msgs = verbose["messages"]
    assert msgs[0].startswith("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'at path '/fields/3': "), msgs
    assert msgs[0].endswith(", additionalInfo:'channel'}"), msgs
    assert msgs[1:3] == ["{oldSchemaVersion: 2}", "{oldSchema: '" + json.dumps(V2, separators=(",", ":")) + "'}"], msgs
    assert msgs[3] == "{validateFields: 'false', compatibility: 'BACKWARD'}", msgs

    # Nothing was registered by the checks.
    assert registry.get_versions(subject) == [1, 2]


def test_metadata_is_refused_not_dropped(registry: SchemaRegistryClient, subject: str):
    """A schema with Confluent metadata would lose it in Surge's registry,
    so registering one is refused instead of answered with an id."""
    for metadata in (
        Metadata(tags=None, properties=MetadataProperties({"owner": "team-a"}), sensitive=None),
        Metadata(tags=None, properties=None, sensitive=["Order.id"]),
    ):
        schema = Schema(json.dumps(V2), "AVRO", metadata=metadata)
        err = registry_error(lambda: registry.register_schema(subject, schema))
        assert (err.http_status_code, err.error_code) == (422, 42201), err
        assert "metadata" in err.error_message
    assert registry.get_versions(subject) == [1, 2]
