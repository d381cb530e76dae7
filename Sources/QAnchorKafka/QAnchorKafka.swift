// QAnchorKafka: a small Swift layer over librdkafka. See docs/kafka.md.
