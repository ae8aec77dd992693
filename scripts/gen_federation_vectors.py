#!/usr/bin/env python3
"""Generate Tyr's federation crypto vectors from Synapse itself (the oracle).

Usage:
    scripts/gen_federation_vectors.py [PYTHON]

PYTHON is an interpreter that can `import synapse` (e.g. .venv/bin/python); when given, this
script re-runs itself under it. Writes tests/fixtures/federation/*.json; the output is
deterministic (fixed seeds, fixed timestamps), so re-running with the same Synapse gives
identical files.

Every expected value comes from Synapse or the libraries it signs with, never from this script:
- room_versions.json: the flags of synapse.api.room_versions.KNOWN_ROOM_VERSIONS "1".."12".
- events.json: each PDU is hashed and signed by synapse.crypto.event_signing
  (add_hashes_and_signatures, a fixed seed); `redacted` is synapse_rust.events.redact_event_dict
  (what compute_event_signature and prune_event use; Synapse no longer has prune_event_dict),
  cross-checked against prune_event(make_event_from_dict(...)) where Synapse accepts the event;
  content_hash / reference_hash from compute_content_hash / compute_event_reference_hash;
  event_id from make_event_from_dict(...).event_id; signature from compute_event_signature.
- canonical_json.json: canonicaljson.encode_canonical_json. `strict_error` marks values Tyr
  refuses in strict mode (floats, integers beyond 2^53-1): Synapse's strict room versions refuse
  them too (synapse.events.validator / validate_canonicaljson).
- keys.json: signedjson (seed, public key, key file line, sign_json), unpaddedbase64.
- x_matrix.json: headers from MatrixFederationHttpClient.build_auth_headers and parse results of
  synapse.federation.transport.server._base._parse_auth_header.
"""

import base64
import hashlib
import json
import logging
import os
import sys

if len(sys.argv) > 1 and os.environ.get("TYR_GEN_REEXEC") != "1":
    os.environ["TYR_GEN_REEXEC"] = "1"
    os.chdir("/")
    script = os.path.abspath(__file__)
    os.execv(sys.argv[1], [sys.argv[1], script])

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import canonicaljson
    import signedjson.key
    import signedjson.sign
    import synapse
    import unpaddedbase64
    from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
    from synapse.crypto.event_signing import (add_hashes_and_signatures, compute_content_hash,
                                              compute_event_reference_hash,
                                              compute_event_signature)
    from synapse.events import make_event_from_dict
    from synapse.events.utils import prune_event
    from synapse.federation.transport.server._base import _parse_auth_header
    from synapse.http.matrixfederationclient import MatrixFederationHttpClient
    from synapse.synapse_rust.events import redact_event_dict
except ImportError as e:  # pragma: no cover
    sys.exit(f"cannot import synapse ({e}); pass a python that can, e.g. .venv/bin/python")

logging.disable(logging.WARNING)

ORIGIN = "origin.example"
SEED = bytes(range(32))  # fixed: the vectors must not change between runs
KEY = signedjson.key.decode_signing_key_base64("ed25519", "a", unpaddedbase64.encode_base64(SEED))
OTHER_SEED = bytes(range(100, 132))
OTHER = signedjson.key.decode_signing_key_base64("ed25519", "k2",
                                                 unpaddedbase64.encode_base64(OTHER_SEED))
VERSIONS = [str(n) for n in range(1, 13)]
FLAGS = ["event_format", "enforce_key_validity", "special_case_aliases_auth",
         "strict_canonicaljson", "limit_notifications_power_levels", "implicit_room_creator",
         "updated_redaction_rules", "restricted_join_rule", "restricted_join_rule_fix",
         "knock_join_rule", "knock_restricted_join_rule", "enforce_int_power_levels",
         "msc3389_relation_redactions", "msc4289_creator_power_enabled",
         "msc4291_room_ids_as_hashes"]
b64 = unpaddedbase64.encode_base64


def write(path, doc):
    """One vector per line, so a regenerated file diffs line by line."""
    path = os.path.join(REPO, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    dump = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    lines = ["{"]
    for key, value in doc.items():
        if key != "vectors":
            lines.append(f"  {dump(key)}: {dump(value)},")
    lines.append('  "vectors": [')
    lines.append(",\n".join("    " + dump(v) for v in doc["vectors"]))
    lines.append("  ]")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}: {len(doc['vectors'])} vectors")


HEADER = {
    "generator": "scripts/gen_federation_vectors.py (regenerate: python3 "
                 "scripts/gen_federation_vectors.py .venv/bin/python; do not edit by hand)",
    "oracle": f"synapse {synapse.__version__.split(' ')[0]}, canonicaljson "
              f"{canonicaljson.__version__}",
}

# --------------------------------------------------------------------------------------------
# Events. Each case is (why, type, state_key or None, content, extra top-level keys); the
# room-version-specific envelope (room_id, prev/auth events format, event_id) is added per
# version.

UNI = "h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e \U0001F600 \u0645\u0631\u062d\u0628\u0627"
CTRL = "tab\there\nnl\rcr\bbs\fff\u0000nul\u001fus\u007fdel\u2028ls\u2029ps \"q\" \\b/s"
EXTRA_TOP = {"origin": ORIGIN, "membership": "join", "prev_state": [], "outlier": True,
             "destinations": ["a.example"], "age_ts": 1700000000000, "redacts": "$r",
             "x_custom": {"nested": [1, 2, {"k": "v"}]}, "age": 5}
UNSIGNED = {"age_ts": 1700000000001, "replaces_state": "$old", "age": 12,
            "prev_content": {"membership": "invite"}, "transaction_id": "txn1",
            "invite_room_state": [{"type": "m.room.name"}]}

CASES = [
    ("create with creator, room_version, federate, predecessor and an extra key",
     "m.room.create", "", {"creator": "@alice:origin.example", "room_version": "V",
                           "m.federate": True, "predecessor": {"room_id": "!old:origin.example",
                                                               "event_id": "$old"},
                           "x_extra": "dropped before v11", "type": "m.space"}, {}),
    ("create with additional_creators and nested content", "m.room.create", "",
     {"room_version": "V", "additional_creators": ["@bob:other.example"],
      "deep": {"a": {"b": {"c": [1, {"d": UNI}]}}}}, {}),
    ("create without creator", "m.room.create", "", {"room_version": "V"}, {}),
    ("member join with displayname, avatar and join_authorised_via_users_server",
     "m.room.member", "@alice:origin.example",
     {"membership": "join", "displayname": UNI, "avatar_url": "mxc://origin.example/abc",
      "join_authorised_via_users_server": "@admin:origin.example", "reason": "hi"}, {}),
    ("member invite with third_party_invite.signed and extra invite keys", "m.room.member",
     "@bob:other.example",
     {"membership": "invite", "third_party_invite": {
         "display_name": "Bob", "signed": {"mxid": "@bob:other.example", "token": "tok",
                                           "signatures": {"id.example": {"ed25519:0": "sig"}}},
         "extra": 1}, "is_direct": True}, {}),
    ("member with third_party_invite lacking signed", "m.room.member", "@c:other.example",
     {"membership": "invite", "third_party_invite": {"display_name": "C"}}, {}),
    ("member with non-object third_party_invite", "m.room.member", "@d:other.example",
     {"membership": "invite", "third_party_invite": "not an object"}, {}),
    ("member with non-string membership", "m.room.member", "@e:other.example",
     {"membership": 5, "displayname": None}, {}),
    ("member leave with reason", "m.room.member", "@alice:origin.example",
     {"membership": "leave", "reason": "bye \U0001F44B"}, {}),
    ("member ban", "m.room.member", "@spam:evil.example", {"membership": "ban", "reason": "spam"},
     {}),
    ("knock", "m.room.member", "@k:other.example", {"membership": "knock", "reason": "let me in"},
     {}),
    ("join_rules restricted with allow and extra", "m.room.join_rules", "",
     {"join_rule": "restricted", "allow": [{"type": "m.room_membership",
                                            "room_id": "!space:origin.example"}],
      "x": "dropped"}, {}),
    ("join_rules public", "m.room.join_rules", "", {"join_rule": "public"}, {}),
    ("power_levels with every key, invite, notifications and extra", "m.room.power_levels", "",
     {"users": {"@alice:origin.example": 100, "@b\u00f6b:other.example": 50},
      "users_default": 0, "events": {"m.room.name": 50, "m.room.power_levels": 100},
      "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
      "invite": 0, "notifications": {"room": 50}, "historical": 100, "x": [1]}, {}),
    ("power_levels with string levels", "m.room.power_levels", "",
     {"ban": "50", "kick": "50", "users": {}, "invite": "0"}, {}),
    ("aliases with extra", "m.room.aliases", "origin.example",
     {"aliases": ["#a:origin.example", "#b:origin.example"], "x": 1}, {}),
    ("history_visibility with extra", "m.room.history_visibility", "",
     {"history_visibility": "shared", "x": 1}, {}),
    ("redaction with content.redacts, top-level redacts and reason", "m.room.redaction", None,
     {"redacts": "$target", "reason": "spam"}, {"redacts": "$target"}),
    ("redaction with only top-level redacts", "m.room.redaction", None, {"reason": "r"},
     {"redacts": "$target"}),
    ("message with formatted body and relation", "m.room.message", None,
     {"msgtype": "m.text", "body": UNI, "format": "org.matrix.custom.html",
      "formatted_body": "<b>" + UNI + "</b>",
      "m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                       "m.in_reply_to": {"event_id": "$p"}}}, {}),
    ("message with control characters and escapes", "m.room.message", None,
     {"msgtype": "m.text", "body": CTRL}, {}),
    ("message with unicode and tricky keys (sorting)", "m.room.message", None,
     {"z": 1, "Z": 2, "a": 3, "\u00e9": 4, "e\u0301": 5, "\U0001F600": 6, "\u65e5": 7,
      "\uff41": 8, "": 9, " ": 10, "A": 11, "_": 12, "~": 13, "\u007f": 14, "\u0080": 15,
      "body": "keys", "msgtype": "m.text"}, {}),
    ("message with every extra top-level key and unsigned", "m.room.message", None,
     {"msgtype": "m.notice", "body": "extras"}, {**EXTRA_TOP, "unsigned": UNSIGNED}),
    ("message with unsigned lacking kept keys", "m.room.message", None,
     {"msgtype": "m.text", "body": "u"}, {"unsigned": {"age": 1}}),
    ("message with empty content", "m.room.message", None, {}, {}),
    ("message with null, bool and number values", "m.room.message", None,
     {"n": None, "t": True, "f": False, "zero": 0, "neg": -42, "max": 9007199254740991,
      "min": -9007199254740991, "arr": [], "obj": {}, "nested": [[[]], {"a": [{}]}]}, {}),
    ("state event of a custom type", "org.example.custom", "k\u00e9y",
     {"data": {"list": [1, "two", {"three": 3}]}}, {}),
    ("server_acl", "m.room.server_acl", "",
     {"allow": ["*"], "deny": ["evil.example"], "allow_ip_literals": False}, {}),
    ("name and topic are not special", "m.room.name", "", {"name": UNI}, {}),
    ("policy rule", "m.policy.rule.user", "rule1",
     {"entity": "@spam:*", "recommendation": "m.ban", "reason": "spam"}, {}),
    ("member event without state_key", "m.room.member", None, {"membership": "join"}, {}),
    ("encrypted message", "m.room.encrypted", None,
     {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA" * 20, "device_id": "DEV",
      "sender_key": "sk", "session_id": "sid"}, {}),
    ("reaction", "m.reaction", None,
     {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$t", "key": "\U0001F44D"}}, {}),
    ("long unicode body", "m.room.message", None,
     {"msgtype": "m.text", "body": ("\u00e9\u65e5\U0001F600x" * 300)}, {}),
]

# Cases only redact_event_dict and the hash functions see (Synapse's event parser refuses them).
DICT_ONLY_CASES = [
    ("create with non-object content", "m.room.create", "", "not an object", {}),
    ("member with array content", "m.room.member", "@a:origin.example", ["membership"], {}),
    ("power_levels with null content", "m.room.power_levels", "", None, {}),
]

ERROR_CASES = [
    ("no content", {"type": "m.room.message", "sender": "@a:origin.example"}),
    ("no type", {"content": {}, "sender": "@a:origin.example"}),
    ("non-string type", {"type": 5, "content": {}}),
]


def room_id_for(version):
    if KNOWN_ROOM_VERSIONS[version].msc4291_room_ids_as_hashes:
        return "!" + b64(hashlib.sha256(b"tyr-room").digest(), urlsafe=True)
    return "!room:origin.example"


def envelope(version, n, why, etype, state_key, content, extra):
    rv = KNOWN_ROOM_VERSIONS[version]
    if isinstance(content, dict) and "room_version" in content:
        content = {**content, "room_version": version}
    ev = {
        "type": etype,
        "sender": "@alice:origin.example",
        "content": content,
        "origin_server_ts": 1700000000000 + n,
        "depth": 10 + n,
        "room_id": room_id_for(version),
    }
    if state_key is not None:
        ev["state_key"] = state_key
    if rv.event_format == 1:
        ev["event_id"] = f"${n}abc:origin.example"
        ev["prev_events"] = [["$prev:origin.example", {"sha256": "aGFzaA"}]]
        ev["auth_events"] = [["$auth:origin.example", {"sha256": "aGFzaA"}]]
    else:
        ev["prev_events"] = ["$prevprevprevprevprevprevprevprevprevprevpre"]
        ev["auth_events"] = ["$authauthauthauthauthauthauthauthauthauthaut"]
    if etype == "m.room.create" and state_key == "":
        ev["prev_events"] = []
        ev["auth_events"] = []
        ev["depth"] = 1
        if rv.msc4291_room_ids_as_hashes:
            del ev["room_id"]
    ev.update(extra)
    return ev


def event_vector(version, why, pdu_unsigned, full):
    rv = KNOWN_ROOM_VERSIONS[version]
    pdu = json.loads(json.dumps(pdu_unsigned))
    add_hashes_and_signatures(rv, pdu, ORIGIN, KEY)
    # A second server's signature too, so verification picks the right one.
    other = compute_event_signature(rv, pdu, "other.example", OTHER)
    pdu["signatures"]["other.example"] = other["other.example"]
    v = {"room_version": version, "why": why, "pdu": pdu}
    v["redacted"] = redact_event_dict(rv, pdu)
    v["content_hash"] = b64(compute_content_hash(pdu, hashlib.sha256)[1])
    v["signature"] = compute_event_signature(rv, pdu, ORIGIN, KEY)[ORIGIN]["ed25519:a"]
    if full:
        event = make_event_from_dict(json.loads(json.dumps(pdu)), rv)
        pruned = json.loads(json.dumps(prune_event(event).get_pdu_json()))
        expect = dict(v["redacted"])
        expect.pop("unsigned", None)
        pruned.pop("unsigned", None)
        assert pruned == expect, (version, why, pruned, expect)
        v["reference_hash"] = b64(compute_event_reference_hash(event)[1])
        v["event_id"] = event.event_id
    return v


def events():
    vectors = []
    for version in VERSIONS:
        for n, (why, etype, state_key, content, extra) in enumerate(CASES):
            pdu = envelope(version, n, why, etype, state_key, content, extra)
            vectors.append(event_vector(version, why, pdu, True))
        for n, (why, etype, state_key, content, extra) in enumerate(DICT_ONLY_CASES):
            pdu = envelope(version, 100 + n, why, etype, state_key, content, extra)
            vectors.append(event_vector(version, why, pdu, False))
        if not KNOWN_ROOM_VERSIONS[version].strict_canonicaljson:
            pdu = envelope(version, 200, "integers beyond 2^53 (relaxed canonical JSON)",
                           "m.room.message", None,
                           {"big": 2**60, "neg": -(2**62), "u": 2**64 - 1, "body": "big"}, {})
            vectors.append(event_vector(version, "integers beyond 2^53", pdu, True))
        for why, pdu in ERROR_CASES:
            try:
                redact_event_dict(KNOWN_ROOM_VERSIONS[version], pdu)
                redacted = True
            except Exception:  # RuntimeError from the Rust redaction
                redacted = False
            assert not redacted, f"Synapse redacted {why}"
            vectors.append({"room_version": version, "why": why, "pdu": pdu, "error": True})
    return vectors


# --------------------------------------------------------------------------------------------
# Canonical JSON.

CANONICAL = [
    ("empty object", {}), ("empty array", []), ("null", None), ("true", True), ("false", False),
    ("zero", 0), ("negative", -1), ("max safe", 2**53 - 1), ("min safe", -(2**53 - 1)),
    ("plain string", "abc"), ("empty string", ""),
    ("nested sorting", {"b": {"d": 1, "c": 2}, "a": [{"z": 1, "y": 2}], "c": None}),
    ("key order by code point", {"\u00e9": 1, "e": 2, "E": 3, "\U0001F600": 4, "\uffff": 5,
                                 "\u65e5": 6, "": 7, "aa": 8, "a": 9, "a\u0000": 10}),
    ("unicode not escaped", {"text": UNI}),
    ("control characters", {"c": "".join(chr(c) for c in range(0x20))}),
    ("short escapes", ["\b", "\f", "\n", "\r", "\t", "\"", "\\", "/"]),
    ("DEL, C1, line separators unescaped", ["\u007f", "\u0080", "\u009f", "\u2028", "\u2029"]),
    ("BOM and noncharacters", ["\ufeff", "\ufffe", "\uffff", "\U0010FFFF"]),
    ("astral", "\U0001F600\U0001F44D\U0001F3FD\U00020000"),
    ("combining", "e\u0301 \u0041\u030a"),
    ("escaped key", {"a\nb": "c\"d", "\\": "/"}),
    ("deep nesting", [[[[[[[[[[{"a": [[[]]]}]]]]]]]]]]),
    ("mixed array", [1, "1", True, None, {}, [], -0, 10**15]),
    ("matrix event", {"type": "m.room.message", "content": {"body": "hi", "msgtype": "m.text"},
                      "origin_server_ts": 1700000000000, "sender": "@a:b.example"}),
]

STRICT_ERRORS = [
    ("2^53 is out of range", {"n": 2**53}),
    ("-(2^53) is out of range", {"n": -(2**53)}),
    ("2^63-1 is out of range", [2**63 - 1]),
    ("-(2^63) is out of range", [-(2**63)]),
    ("2^64-1 is out of range", {"a": {"b": [2**64 - 1]}}),
    ("float", {"f": 1.5}),
    ("float with integral value", {"f": 1.0}),
    ("float in array", [0, 0.1]),
    ("big float", {"f": 1e100}),
]


def canonical():
    vectors = []
    for why, value in CANONICAL:
        vectors.append({"why": why, "value": value,
                        "canonical": canonicaljson.encode_canonical_json(value).decode("utf-8")})
    for why, value in STRICT_ERRORS:
        v = {"why": why, "value": value, "strict_error": True,
             "python": canonicaljson.encode_canonical_json(value).decode("utf-8")}
        vectors.append(v)
    return vectors


# --------------------------------------------------------------------------------------------
# Keys, signed JSON, base64.


def keys():
    vectors = []
    for seed, version in [(SEED, "a"), (OTHER_SEED, "k2"), (bytes(32), "zero"),
                          (hashlib.sha256(b"tyr").digest(), "auto_1")]:
        key = signedjson.key.decode_signing_key_base64("ed25519", version, b64(seed))
        import io
        out = io.StringIO()
        signedjson.key.write_signing_keys(out, [key])
        vectors.append({"kind": "signing_key", "seed": b64(seed), "version": version,
                        "public_key": b64(key.verify_key.encode()), "key_file": out.getvalue(),
                        "message": "hello", "signature": b64(key.sign(b"hello").signature)})
    objects = [
        ("plain", {"a": 1, "b": "two"}),
        ("with unsigned (not signed)", {"a": 1, "unsigned": {"age": 5}}),
        ("with existing signatures", {"a": 1, "signatures": {"x.example": {"ed25519:z": "sig"}}}),
        ("unicode", {"text": UNI, "ctrl": CTRL}),
        ("server keys shape", {"server_name": ORIGIN, "valid_until_ts": 1800000000000,
                               "verify_keys": {"ed25519:a": {"key": b64(KEY.verify_key.encode())}},
                               "old_verify_keys": {}}),
    ]
    for why, obj in objects:
        signed = signedjson.sign.sign_json(json.loads(json.dumps(obj)), ORIGIN, KEY)
        vectors.append({"kind": "sign_json", "why": why, "value": obj, "signed": signed})
    # A /_matrix/key/v2/server answer signed by its own key, as Synapse serves it.
    answer = {"server_name": ORIGIN, "valid_until_ts": 1800000000000,
              "verify_keys": {"ed25519:a": {"key": b64(KEY.verify_key.encode())},
                              "other:x": {"key": "ignored"}},
              "old_verify_keys": {"ed25519:k2": {"key": b64(OTHER.verify_key.encode()),
                                                 "expired_ts": 1600000000000}}}
    answer = signedjson.sign.sign_json(answer, ORIGIN, KEY)
    vectors.append({"kind": "server_keys", "body": json.dumps(answer, ensure_ascii=False),
                    "server_name": ORIGIN})
    for data in [b"", b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", bytes(range(256)),
                 b"\xfb\xff\xbf", b"\xff" * 33, "\u00e9\U0001F600".encode()]:
        vectors.append({"kind": "base64", "hex": data.hex(), "standard": b64(data),
                        "urlsafe": b64(data, urlsafe=True),
                        "padded": base64.b64encode(data).decode()})
    return vectors


# --------------------------------------------------------------------------------------------
# X-Matrix.


class _Client:
    server_name = ORIGIN
    signing_key = KEY


def build_headers(method, uri, destination, content):
    headers = MatrixFederationHttpClient.build_auth_headers(
        _Client(), destination.encode(), method.encode(), uri.encode(), content)
    return [h.decode("ascii") for h in headers]


SIG = "c2lnbmF0dXJl"
PARSE_CASES = [
    ("plain quoted", 'X-Matrix origin="a.example",key="ed25519:a",sig="%s"' % SIG),
    ("bare values", "X-Matrix origin=a.example,key=ed25519:a,sig=%s,destination=b.example" % SIG),
    ("spaces and tabs around commas",
     'X-Matrix origin="a.example" \t, key="ed25519:a",\tsig="%s"' % SIG),
    ("several spaces after the scheme", 'X-Matrix    origin=a.example,key=k,sig=s'),
    ("upper-case parameter names", 'X-Matrix ORIGIN=a.example,Key=k,SIG=s,Destination=d'),
    ("Kelvin sign lowers to k", 'X-Matrix origin=a.example,\u212aey=k,sig=s'),
    ("unknown parameters ignored", 'X-Matrix foo=bar,origin=a.example,key=k,sig=s,x="y"'),
    ("repeated parameter: last wins", 'X-Matrix origin=x.example,origin=a.example,key=k,sig=s'),
    ("escaped quote and backslash", r'X-Matrix origin=a.example,key="ed\"25519:\\a",sig="s\x"'),
    ("quoted value with its last character dropped whatever it is",
     'X-Matrix origin=a.example,key="ed25519:ab,sig=s'),
    ("lone quote", 'X-Matrix origin=a.example,key=",sig=s'),
    ("empty values", 'X-Matrix origin=a.example,key=,sig='),
    ("value containing '='", 'X-Matrix origin=a.example,key=k,sig=abc==='),
    ("origin with port", 'X-Matrix origin="a.example:8448",key=k,sig=s'),
    ("origin IPv6 literal", 'X-Matrix origin="[::1]:8448",key=k,sig=s'),
    ("origin IPv4", 'X-Matrix origin=1.2.3.4,key=k,sig=s'),
    ("quoted multibyte last character", 'X-Matrix origin=a.example,key="k\u00e9,sig=s'),
    ("backslash before a multibyte character", 'X-Matrix origin=a.example,key="a\\\u00e9b",sig=s'),
    ("trailing space after a quoted value", 'X-Matrix origin=a.example,key="k" ,sig="s" '),
    ("comma inside quotes splits", 'X-Matrix origin=a.example,key="a,b",sig=s'),
    # Failures.
    ("no space after the scheme", 'X-Matrix\torigin=a.example,key=k,sig=s'),
    ("scheme glued to parameters", 'X-Matrixorigin=a.example,key=k,sig=s'),
    ("wrong scheme", 'Bearer abc'),
    ("lower-case scheme", 'x-matrix origin=a.example,key=k,sig=s'),
    ("missing origin", 'X-Matrix key=k,sig=s'),
    ("missing key", 'X-Matrix origin=a.example,sig=s'),
    ("missing sig", 'X-Matrix origin=a.example,key=k'),
    ("parameter without '='", 'X-Matrix origin=a.example,key=k,sig=s,junk'),
    ("empty parameter list", 'X-Matrix '),
    ("trailing comma", 'X-Matrix origin=a.example,key=k,sig=s,'),
    ("invalid origin", 'X-Matrix origin="evil example",key=k,sig=s'),
    ("origin with underscore", 'X-Matrix origin=a_b.example,key=k,sig=s'),
    ("origin empty", 'X-Matrix origin="",key=k,sig=s'),
    ("origin bad port", 'X-Matrix origin=a.example:port,key=k,sig=s'),
    ("origin bad IPv6", 'X-Matrix origin=[::zz],key=k,sig=s'),
    ("origin trailing dot", 'X-Matrix origin=a.example.,key=k,sig=s'),
    ("origin with newline via escape", 'X-Matrix origin="a.exampl\\\ne",key=k,sig=s'),
]


def x_matrix():
    vectors = []
    requests = [
        ("POST", "/_matrix/policy/v1/sign", "policy.example",
         {"type": "m.room.message", "content": {"body": UNI}}),
        ("GET", "/_matrix/federation/v1/version", "policy.example", None),
        ("PUT", "/_matrix/federation/v1/send/txn%201?x=1&y=%C3%A9", "b.example:8448",
         {"pdus": [], "edus": [], "origin": ORIGIN, "origin_server_ts": 1}),
        ("GET", "/_matrix/federation/v1/query/profile?user_id=%40a%3Ab", "[::1]:8448", None),
    ]
    for method, uri, destination, content in requests:
        for header in build_headers(method, uri, destination, content):
            vectors.append({"kind": "request", "method": method, "uri": uri, "origin": ORIGIN,
                            "destination": destination, "content": content, "header": header,
                            "public_key": b64(KEY.verify_key.encode()),
                            "parsed": list(_parse_auth_header(header.encode()))})
    for why, header in PARSE_CASES:
        try:
            origin, key, sig, destination = _parse_auth_header(header.encode("utf-8"))
            vectors.append({"kind": "parse", "why": why, "header": header,
                            "parsed": {"origin": origin, "key": key, "sig": sig,
                                       "destination": destination}})
        except Exception:  # AuthenticationError
            vectors.append({"kind": "parse", "why": why, "header": header, "error": True})
    return vectors


def room_versions():
    vectors = []
    for version in VERSIONS:
        rv = KNOWN_ROOM_VERSIONS[version]
        vectors.append({"identifier": version, **{f: getattr(rv, f) for f in FLAGS}})
    return vectors


def main():
    write("tests/fixtures/federation/room_versions.json",
          {**HEADER, "semantics": "flags of KNOWN_ROOM_VERSIONS", "vectors": room_versions()})
    write("tests/fixtures/federation/canonical_json.json",
          {**HEADER, "semantics": "canonical = encode_canonical_json(value); strict_error: Tyr "
                                  "refuses it in strict mode (python = what canonicaljson writes)",
           "vectors": canonical()})
    write("tests/fixtures/federation/events.json",
          {**HEADER, "origin": ORIGIN, "seed": b64(SEED), "key_id": "ed25519:a",
           "other_server": "other.example", "other_seed": b64(OTHER_SEED), "other_key_id":
           "ed25519:k2",
           "semantics": "pdu hashed and signed by add_hashes_and_signatures (+ other.example); "
                        "redacted = redact_event_dict; content_hash/reference_hash unpadded "
                        "base64; signature = compute_event_signature for origin; error: "
                        "Synapse cannot redact it",
           "vectors": events()})
    write("tests/fixtures/federation/keys.json",
          {**HEADER, "semantics": "signedjson keys and sign_json, unpaddedbase64",
           "vectors": keys()})
    write("tests/fixtures/federation/x_matrix.json",
          {**HEADER, "semantics": "request: header built by build_auth_headers; parse: "
                                  "_parse_auth_header result [origin,key,sig,destination] or "
                                  "error", "vectors": x_matrix()})


if __name__ == "__main__":
    main()
