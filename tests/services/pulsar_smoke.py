"""Smoke test of the test Pulsar using only the admin REST API and the official Python client
(the reference peer): create a partitioned topic with an Avro schema through the admin API,
produce 1,000 messages with the client, consume them and compare every value.

Run with the venv's python (scripts/services/venv-python); the server comes from the CTest
fixture pulsar_server or from scripts/services/pulsar.sh start.
Environment: TIDELINE_PULSAR_PORT (6650), TIDELINE_PULSAR_HTTP_PORT (8080).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import pulsar
from pulsar.schema import AvroSchema

MESSAGES = 1000
PARTITIONS = 4

SCHEMA = {
    "type": "record",
    "name": "SmokeEvent",
    "namespace": "dev.tideline.smoke",
    "fields": [
        {"name": "entity", "type": "string"},
        {"name": "seq", "type": "long"},
        {"name": "amount", "type": "double"},
        {"name": "label", "type": ["null", "string"], "default": None},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def admin(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {url}: HTTP {e.code}: {e.read().decode()[:500]}") from e


def main():
    port = int(os.environ.get("TIDELINE_PULSAR_PORT", "6650"))
    http = f"http://127.0.0.1:{os.environ.get('TIDELINE_PULSAR_HTTP_PORT', '8080')}"
    t0 = time.monotonic()
    name = "smoke-" + uuid.uuid4().hex[:12]
    topic = f"persistent://public/default/{name}"
    topic_path = f"{http}/admin/v2/persistent/public/default/{name}"
    schema_path = f"{http}/admin/v2/schemas/public/default/{name}/schema"

    admin("PUT", f"{topic_path}/partitions", PARTITIONS)
    meta = admin("GET", f"{topic_path}/partitions")
    assert meta["partitions"] == PARTITIONS, meta
    admin("POST", schema_path, {"type": "AVRO", "schema": json.dumps(SCHEMA), "properties": {}})
    uploaded = admin("GET", schema_path)
    assert uploaded["type"] == "AVRO" and json.loads(uploaded["data"]) == SCHEMA, uploaded

    client = pulsar.Client(f"pulsar://127.0.0.1:{port}", operation_timeout_seconds=30,
                           logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
    try:
        schema = AvroSchema(None, schema_definition=SCHEMA)
        # Subscribe before producing so every message is retained for this subscription.
        consumer = client.subscribe(topic, "smoke", schema=schema, consumer_type=pulsar.ConsumerType.Shared,
                                    initial_position=pulsar.InitialPosition.Earliest)
        producer = client.create_producer(topic, schema=schema, batching_enabled=True)
        sent = {}
        errors = []

        def on_sent(res, _msg_id):
            if res != pulsar.Result.Ok:
                errors.append(res)

        for i in range(MESSAGES):
            value = {"entity": f"e{i % 37}", "seq": i, "amount": i * 0.25 - 100.0,
                     "label": None if i % 10 == 0 else f"label-{i}", "at": 1767225600000 + i * 1500}
            sent[i] = value
            producer.send_async(value, on_sent, partition_key=value["entity"])
        producer.flush()
        assert not errors, f"{len(errors)} sends failed: {errors[0]}"

        received = {}
        partitions_seen = set()
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            msg = consumer.receive(timeout_millis=10000)
            value = msg.value()
            assert msg.partition_key() == value["entity"], (msg.partition_key(), value)
            assert value["seq"] not in received, f"duplicate seq {value['seq']}"
            received[value["seq"]] = value
            partitions_seen.add(msg.topic_name())
            consumer.acknowledge(msg)
        assert len(received) == MESSAGES, f"received {len(received)} of {MESSAGES}"
        for i, want in sent.items():
            got = dict(received[i])
            # The client may decode timestamp-millis as a datetime; compare as epoch millis.
            if not isinstance(got["at"], int):
                got["at"] = int(got["at"].timestamp() * 1000)
            assert got == want, f"message {i}: received {got!r}, sent {want!r}"
        assert len(partitions_seen) > 1, f"all messages came from {partitions_seen}"
        producer.close()
        consumer.close()
    finally:
        client.close()

    # The client's schema was the uploaded one: no second schema version appeared.
    schemas = admin("GET", f"{http}/admin/v2/schemas/public/default/{name}/schemas")["getSchemaResponses"]
    assert [s["version"] for s in schemas] == [0], f"schema versions {schemas}"
    admin("DELETE", f"{topic_path}/partitions?force=true")
    print(f"pulsar smoke: produced and consumed {MESSAGES} Avro messages over {PARTITIONS} partitions "
          f"in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
