#!/usr/bin/env python3
"""Splits a labelled JSON-lines corpus the way tyr_classifier_bench does: a message whose body's
64-bit FNV-1a hash is 0 mod 5 is held out, the rest is the learning part (file order kept).

    python3 scripts/split_corpus.py CORPUS.jsonl OUT_DIR   # writes OUT_DIR/{learn,heldout}.jsonl
"""
import json
import os
import sys


def fnv1a(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    counts = {"learn": 0, "heldout": 0}
    with open(corpus, encoding="utf-8") as src, \
            open(os.path.join(out, "learn.jsonl"), "w", encoding="utf-8") as learn, \
            open(os.path.join(out, "heldout.jsonl"), "w", encoding="utf-8") as held:
        for line in src:
            if not line.strip():
                continue
            body = json.loads(line).get("content", {}).get("body", "")
            part = "heldout" if fnv1a(body.encode("utf-8")) % 5 == 0 else "learn"
            (held if part == "heldout" else learn).write(line if line.endswith("\n") else line + "\n")
            counts[part] += 1
    print(f"{counts['learn']} to learn from, {counts['heldout']} held out, in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
