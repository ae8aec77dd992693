#!/usr/bin/env python3
"""Writes the policy-load benchmark workload, the same bytes on every run (fixed seed).

    gen_policy_workload.py OUT_DIR [RULES] [EVENTS]     defaults: 100000 rules, 200000 events

OUT_DIR/list.json: a JSON array of m.policy.rule.* state events as a homeserver's /state
answers them, RULES rules in the mix 50 % literal users, 15 % user globs, 20 % literal
servers, 10 % server globs, 5 % MSC4205-hashed users.
OUT_DIR/events.jsonl: EVENTS message events for `tyr check --list`, about a third of whose
senders are banned (by a literal, a glob, a hash or their server), the rest not.
OUT_DIR/events_1.jsonl: one event, to time the load alone.
"""

import base64
import hashlib
import json
import os
import random
import sys

ROOM = "!bench-list:example.org"


def rule_event(i, rng, kind, key, content):
    return {
        "type": "m.policy.rule." + kind,
        "state_key": key,
        "room_id": ROOM,
        "sender": "@moderator:example.org",
        "event_id": "$%043x" % rng.getrandbits(172),
        "origin_server_ts": 1700000000000 + i,
        "unsigned": {"age": rng.randrange(10**9)},
        "content": content,
    }


def main():
    out = sys.argv[1]
    n_rules = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    n_events = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
    rng = random.Random(20261207)
    os.makedirs(out, exist_ok=True)
    banned = []  # user IDs that some rule bans
    events = []
    for i in range(n_rules):
        slot = i % 20  # 10 literal users, 3 user globs, 4 literal servers, 2 server globs, 1 hash
        reason = "spam wave %d" % (i % 97)
        if slot < 10:
            user = "@spammer%d:bad%d.example" % (i, i % 5000)
            banned.append(user)
            content = {"entity": user, "recommendation": "m.ban", "reason": reason}
            events.append(rule_event(i, rng, "user", "rule:" + user, content))
        elif slot < 13:
            glob = "@bot%d_*:*.net%d.example" % (i, i % 1000)
            banned.append("@bot%d_x%d:a.net%d.example" % (i, i, i % 1000))
            content = {"entity": glob, "recommendation": "m.ban", "reason": reason}
            events.append(rule_event(i, rng, "user", "rule:" + glob, content))
        elif slot < 17:
            server = "evil%d.example" % i
            banned.append("@anyone:" + server)
            content = {"entity": server, "recommendation": "m.ban", "reason": reason}
            events.append(rule_event(i, rng, "server", "rule:" + server, content))
        elif slot < 19:
            glob = "*.spam%d.example" % i
            banned.append("@anyone:host.spam%d.example" % i)
            content = {"entity": glob, "recommendation": "m.ban", "reason": reason}
            events.append(rule_event(i, rng, "server", "rule:" + glob, content))
        else:
            user = "@hidden%d:secret.example" % i
            banned.append(user)
            digest = base64.b64encode(hashlib.sha256(user.encode()).digest()).decode()
            content = {"org.matrix.msc4205.hashes": {"sha256": digest},
                       "recommendation": "m.ban", "reason": reason}
            events.append(rule_event(i, rng, "user", "rule:hash:" + digest, content))
    with open(os.path.join(out, "list.json"), "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(e, separators=(",", ":")) for e in events))
        f.write("\n]\n")

    def message(j, sender):
        return json.dumps({"type": "m.room.message", "room_id": "!room:example.org",
                           "event_id": "$ev%d" % j, "sender": sender,
                           "content": {"msgtype": "m.text", "body": "hello %d" % j}},
                          separators=(",", ":"))

    with open(os.path.join(out, "events.jsonl"), "w") as f:
        for j in range(n_events):
            if j % 3 == 0:
                sender = banned[rng.randrange(len(banned))]
            else:
                sender = "@user%d:good%d.example" % (j, j % 700)
            f.write(message(j, sender) + "\n")
    with open(os.path.join(out, "events_1.jsonl"), "w") as f:
        f.write(message(0, "@user0:good0.example") + "\n")


if __name__ == "__main__":
    main()
