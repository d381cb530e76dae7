#!/usr/bin/env python3
"""Checks what a group of qanchor instances published, as a feature store would see it (an independent client:
confluent-kafka and plain HTTP). Used by the scale-out test; also usable against a real deployment.

  verify_scaleout.py --bootstrap HOST:PORT --topic-template 'p.embeddings.{scenario}' --scenarios a,b,c
                     --reference embed.jsonl [--instance http://127.0.0.1:PORT ...]

Checks, per user and scenario, over every record in the output topics (log order):
  1. versions strictly increase; a version may repeat only with the very same embedding (an at-least-once
     re-publication after a crash), never with other content;
  2. no (user, version) was published with two different embeddings (across all owners);
  3. the final record equals the reference (`qanchor embed` over all of the user's events): cosine >= 0.99999,
     same event_time, scores within 1e-4;
  4. a lookup on every instance (following redirects to the owner) returns the final record (same version and
     embedding).
Prints a JSON summary; exit status 1 when any check fails.
"""
import argparse, json, math, sys, time, urllib.error, urllib.request

from confluent_kafka import Consumer, TopicPartition


def read_topic(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify-unused", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions.keys())
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    done, out = set(), []
    deadline = time.time() + 60
    while len(done) < len(parts) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                done.add(m.partition())
            continue
        out.append((m.key().decode() if m.key() else None, m.value(), m.partition(), m.offset()))
    c.close()
    if len(done) < len(parts):
        raise SystemExit(f"{topic}: did not reach the end of every partition")
    return out


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    return dot / max(na * nb, 1e-30)


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # follows 307 to the owner
            return r.status, json.loads(r.read()), r.geturl()
    except urllib.error.HTTPError as e:
        return e.code, None, url


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic-template", required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--instance", action="append", default=[])
    args = ap.parse_args()
    scenarios = args.scenarios.split(",")
    failures = []
    reference = {}
    with open(args.reference) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                reference[(r["user_id"], r["scenario"])] = r

    final, records_total, repeats, versions_seen = {}, 0, 0, {}
    for scenario in scenarios:
        rows = read_topic(args.bootstrap, args.topic_template.replace("{scenario}", scenario))
        records_total += len(rows)
        last = {}
        for key, value, partition, offset in rows:
            if value is None:
                last[key] = None
                continue
            r = json.loads(value)
            user, version, emb = r["user_id"], r["version"], r["embedding"]
            if user != key:
                failures.append(f"{scenario}[{partition}]@{offset}: key {key} but user_id {user}")
            seen = versions_seen.setdefault((user, scenario, version), emb)
            if seen != emb:
                diff = max(abs(x - y) for x, y in zip(seen, emb))
                failures.append(f"{user}/{scenario}: version {version} published with two different embeddings (max diff {diff:g})")
            prev = last.get(user)
            if prev is not None:
                if version < prev["version"] or (version == prev["version"] and prev["embedding"] != emb):
                    failures.append(f"{user}/{scenario}: version {prev['version']} then {version} (log order)")
                elif version == prev["version"]:
                    repeats += 1
            last[user] = r
        for user, r in last.items():
            final[(user, scenario)] = r

    for (user, scenario), ref in reference.items():
        got = final.get((user, scenario))
        if got is None:
            failures.append(f"{user}/{scenario}: never published (or tombstoned)")
            continue
        c = cosine(got["embedding"], ref["embedding"])
        if c < 0.99999:
            failures.append(f"{user}/{scenario}: cosine to the reference {c:.7f}")
        if got.get("event_time") != ref.get("event_time"):
            failures.append(f"{user}/{scenario}: event_time {got.get('event_time')} != reference {ref.get('event_time')}")
        for label, score in (ref.get("scores") or {}).items():
            if abs((got.get("scores") or {}).get(label, -1) - score) > 1e-4:
                failures.append(f"{user}/{scenario}: score {label}")
    extra = sorted({k for k in final if k not in reference and final[k] is not None})
    if extra:
        failures.append(f"published users missing from the reference: {extra[:5]}")

    lookups, redirected = 0, 0
    users = sorted({u for u, _ in reference})
    for base in args.instance:
        for user in users:
            status, body, where = fetch(f"{base}/v1/users/{user}/embeddings")
            lookups += 1
            if where.split("/v1/")[0] != base:
                redirected += 1
            if status != 200:
                failures.append(f"lookup {user} on {base}: HTTP {status}")
                continue
            by_scenario = {json.loads(json.dumps(r))["scenario"]: r for r in body["records"]}
            for scenario in scenarios:
                want, got = final.get((user, scenario)), by_scenario.get(scenario)
                if got is None or want is None or got["version"] != want["version"] or got["embedding"] != want["embedding"]:
                    failures.append(f"lookup {user}/{scenario} on {base}: version {got and got['version']} != published {want and want['version']}")

    summary = {"records": records_total, "users": len(users), "final_records": len(final), "same_version_repeats": repeats,
               "distinct_versions": len(versions_seen), "lookups": lookups, "lookups_redirected": redirected,
               "failures": failures[:50], "failure_count": len(failures)}
    print(json.dumps(summary, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
