#!/usr/bin/env python3
"""Decode qanchor.v1.Embedding messages (ops/proto/qanchor.proto) with the official protobuf runtime, building the
descriptor from the .proto's definition (no protoc needed). Reads hex-encoded messages, one per line, on stdin;
prints each as JSON (field names as in the .proto). Used by the tests as an independent decoder."""
import json, sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto


def build():
    fdp = descriptor_pb2.FileDescriptorProto(name="qanchor.proto", package="qanchor.v1", syntax="proto3")
    model = fdp.message_type.add(name="ModelInfo")
    for i, n in enumerate(["name", "version", "fingerprint"], 1):
        model.field.add(name=n, number=i, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    score = fdp.message_type.add(name="LabelScore")
    score.field.add(name="label", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    score.field.add(name="score", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    e = fdp.message_type.add(name="Embedding")
    e.field.add(name="user_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    e.field.add(name="scenario", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    e.field.add(name="dim", number=3, type=F.TYPE_UINT32, label=F.LABEL_OPTIONAL)
    e.field.add(name="embedding", number=4, type=F.TYPE_FLOAT, label=F.LABEL_REPEATED)
    e.field.add(name="scores", number=5, type=F.TYPE_MESSAGE, type_name=".qanchor.v1.LabelScore", label=F.LABEL_REPEATED)
    e.field.add(name="model", number=6, type=F.TYPE_MESSAGE, type_name=".qanchor.v1.ModelInfo", label=F.LABEL_OPTIONAL)
    e.field.add(name="version", number=7, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    e.oneof_decl.add(name="_event_time")
    e.field.add(name="event_time", number=8, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL, oneof_index=0,
                proto3_optional=True)
    e.field.add(name="window_start", number=9, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    e.field.add(name="computed_at", number=10, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("qanchor.v1.Embedding"))


def main():
    Embedding = build()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        m = Embedding()
        m.ParseFromString(bytes.fromhex(line))
        d = json_format.MessageToDict(m, preserving_proto_field_name=True)
        d["has_event_time"] = m.HasField("event_time")
        print(json.dumps(d, sort_keys=True))


if __name__ == "__main__":
    main()
