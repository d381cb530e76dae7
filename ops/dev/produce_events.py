#!/usr/bin/env python3
"""Produce JSONL events (input-topic format plus "modality") to the daemon's input topics with confluent-kafka,
an independent client: topic = template with {modality}, key = user_id, value = the event without "modality".

  produce_events.py --bootstrap 127.0.0.1:9092 FILE.jsonl [--topic-template qanchor.events.{modality}]
                    [--shift-to-now REFERENCE_TIME] [--partitioner murmur2_random]

--shift-to-now moves every integer "ts" by (now - REFERENCE_TIME) so a fixed test file lands inside the window
of a daemon running today. Lines that are not valid JSON objects are sent as they are, to the topic named by
--raw-topic (they exercise the dead-letter path). --partitioner is librdkafka's (default murmur2_random: the Java
client's placement, which qanchor's `kafka.partitioner: murmur2` default expects). Prints the count per topic as JSON.
"""
import argparse, json, sys, time
from datetime import datetime, timezone

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--topic-template", default="qanchor.events.{modality}")
    ap.add_argument("--shift-to-now", metavar="REFERENCE_TIME", help="RFC 3339 time the file's timestamps are relative to")
    ap.add_argument("--raw-topic", help="topic for lines that are not JSON objects with a modality")
    ap.add_argument("--partitioner", default="murmur2_random", help="librdkafka partitioner for keyed records")
    args = ap.parse_args()
    shift = 0
    if args.shift_to_now:
        ref = datetime.fromisoformat(args.shift_to_now.replace("Z", "+00:00")).astimezone(timezone.utc)
        shift = int(time.time() * 1000) - int(ref.timestamp() * 1000)
    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                         "partitioner": args.partitioner})
    counts, failures = {}, []

    def report(err, msg):
        if err is not None:
            failures.append(str(err))

    with open(args.file, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\n")
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                event = None
            if isinstance(event, dict) and isinstance(event.get("modality"), str):
                modality = event.pop("modality")
                if shift and isinstance(event.get("ts"), int):
                    event["ts"] += shift
                topic = args.topic_template.replace("{modality}", modality)
                key = event.get("user_id") if isinstance(event.get("user_id"), str) else None
                producer.produce(topic, key=key, value=json.dumps(event, ensure_ascii=False).encode("utf-8"),
                                 on_delivery=report)
            elif args.raw_topic:
                topic = args.raw_topic
                producer.produce(topic, value=raw, on_delivery=report)
            else:
                continue
            counts[topic] = counts.get(topic, 0) + 1
            producer.poll(0)
    if producer.flush(30) != 0 or failures:
        print(json.dumps({"error": "not all records were delivered", "failures": failures[:5]}), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"produced": counts, "shift_ms": shift}, sort_keys=True))


if __name__ == "__main__":
    main()
