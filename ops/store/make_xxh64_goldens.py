#!/usr/bin/env python3
"""Goldens for the store's journal checksum (XXH64, Sources/QAnchorStore/Journal/XXHash64.swift).

The independent reference is the zstd command-line tool: a frame written with --check ends with the
low 32 bits of XXH64(content, seed 0), little-endian. Inputs are byte patterns the Swift test rebuilds:
byte i = (i * 31 + 7) % 251, for a range of lengths covering every code path (tail bytes, the 4-byte
word, 8-byte words, 32-byte stripes).

    python3 ops/store/make_xxh64_goldens.py > testdata/store/xxh64_goldens.json
"""
import json
import subprocess

LENGTHS = [0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 31, 32, 33, 36, 40, 63, 64, 65, 100, 1000, 1541, 4096, 65537]


def pattern(n):
    return bytes((i * 31 + 7) % 251 for i in range(n))


def zstd_low32(data):
    frame = subprocess.run(["zstd", "-q", "-c", "--check", "-1"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return int.from_bytes(frame[-4:], "little")


goldens = [{"length": n, "xxh64_low32": zstd_low32(pattern(n))} for n in LENGTHS]
print(json.dumps({"source": "zstd --check frame checksum (low 32 bits of XXH64, seed 0)",
                  "pattern": "byte i = (i * 31 + 7) % 251", "goldens": goldens}, indent=1))
