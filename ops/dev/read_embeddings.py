#!/usr/bin/env python3
"""Read the daemon's embedding topics with confluent-kafka (an independent client) and print a short summary per
user: scenario, version, the first dimensions and the prototype scores. `--json` prints the records instead.

  read_embeddings.py --bootstrap 127.0.0.1:9092 --topic qanchor.embeddings.credit_risk [--topic …] [--json]
"""
import argparse, json, sys, uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def read_topic(bootstrap, topic):
    """Every record of the topic, reading each partition from the beginning to its end. The end is detected with
    partition-EOF events (based on the fetch high watermark; Tansu 0.6's ListOffsets LATEST is not reliable)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"qanchor-reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    pending, records = set(partitions), []
    while pending:
        msg = consumer.poll(10)
        if msg is None:
            break
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                pending.discard(msg.partition())
            continue
        records.append((msg.key().decode() if msg.key() else None, msg.value()))
    consumer.close()
    return records


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--count", action="store_true", help="only print the number of records")
    args = ap.parse_args()
    if args.count:
        print(sum(len(read_topic(args.bootstrap, t)) for t in args.topic))
        return
    latest = {}
    for topic in args.topic:
        for key, value in read_topic(args.bootstrap, topic):
            if value is None:
                latest[(key, topic)] = None
                continue
            record = json.loads(value)
            latest[(key, record["scenario"])] = record
    if args.json:
        for (_, _), record in sorted(latest.items()):
            if record:
                print(json.dumps(record, ensure_ascii=False))
        return
    users = sorted({user for user, _ in latest})
    print(f"{len(users)} users, {sum(1 for r in latest.values() if r)} embeddings")
    for user in users:
        for (u, scenario), record in sorted(latest.items()):
            if u != user or not record:
                continue
            head = ", ".join(f"{v:+.3f}" for v in record["embedding"][:4])
            scores = ""
            if "scores" in record:
                scores = "  scores " + " ".join(f"{k}={v:.2f}" for k, v in record["scores"].items())
            print(f"  {user:<6} {scenario:<12} v{record['version']}  dim {record['dim']}  [{head}, …]{scores}")
    fingerprints = {r["model"]["fingerprint"] for r in latest.values() if r}
    print(f"model fingerprint: {', '.join(sorted(fingerprints))}")
    if not latest:
        sys.exit(1)


if __name__ == "__main__":
    main()
