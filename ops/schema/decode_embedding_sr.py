#!/usr/bin/env python3
"""Decode qanchor records in Confluent Schema Registry JSON framing (output.format: json_schema_registry) with
confluent-kafka's own JSONDeserializer, validating against ops/schema/qanchor-embedding.schema.json (no registry
needed: the writer schema is given). Reads hex-encoded record values, one per line, on stdin; prints each decoded
record as JSON with its schema id. Exit status 1 if any record fails to decode or validate. Used by the tests."""
import json, os, struct, sys

from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qanchor-embedding.schema.json")


def main():
    with open(SCHEMA) as f:
        deserializer = JSONDeserializer(f.read())
    ctx = SerializationContext("qanchor.embeddings.test", MessageField.VALUE)
    failed = False
    for line in sys.stdin:
        data = bytes.fromhex(line.strip())
        try:
            record = deserializer(data, ctx)
        except Exception as error:  # a framing or schema error: report and go on
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
            failed = True
            continue
        print(json.dumps({"magic": data[0], "schema_id": struct.unpack(">I", data[1:5])[0], "record": record}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
