#!/usr/bin/env python3
"""Generate Tyr's glob and server-ACL conformance vectors from Synapse itself (the oracle).

Usage:
    scripts/gen_policy_vectors.py [PYTHON]

PYTHON is an interpreter that can `import synapse` (e.g. /tmp/synvenv/bin/python); when given,
this script re-runs itself under it. Without it, the current interpreter must import synapse.
Writes tests/fixtures/glob/vectors.json and tests/fixtures/acl/vectors.json; the output is
deterministic, so re-running with the same Synapse gives identical files.

Every expected value comes from Synapse's Rust ACL evaluator, never from this script:
- glob vectors: ServerAclEvaluator(True, [glob], []).server_matches_acl_event(text) is "glob
  matches text" (an allow-only ACL with IP literals allowed admits exactly what the glob
  matches); it is cross-checked against the deny-list form ServerAclEvaluator(True, ['*'], [glob])
  where '*' admits the text. The evaluator strips nothing: `text` is matched as given.
- `ip_literal` (glob vectors, texts without a newline): an IP literal is admitted by
  ServerAclEvaluator(True, ['*'], []) and refused by ServerAclEvaluator(False, ['*'], []).
- ACL vectors: content is parsed by Synapse's own server_acl_evaluator_from_event (the lenient
  parsing, synapse/storage/controllers/state.py), and the server name is split by
  parse_server_name (synapse/util/stringutils.py) exactly as synapse/federation/federation_server.py
  does before check_server_matches_acl. The vector's `server` keeps the port; the oracle sees
  the stripped host.
"""

import json
import logging
import os
import sys

if len(sys.argv) > 1 and os.environ.get("TYR_GEN_REEXEC") != "1":
    os.environ["TYR_GEN_REEXEC"] = "1"
    # Run from outside any synapse checkout so `import synapse` finds the installed package.
    os.chdir("/")
    script = os.path.abspath(__file__)
    os.execv(sys.argv[1], [sys.argv[1], script])

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import synapse
    from synapse.storage.controllers.state import server_acl_evaluator_from_event
    from synapse.synapse_rust.acl import ServerAclEvaluator
    from synapse.util.stringutils import parse_server_name
except ImportError as e:  # pragma: no cover
    sys.exit(f"cannot import synapse ({e}); pass a python that can, e.g. /tmp/synvenv/bin/python")

# Synapse logs a warning for each leniently parsed field; the vectors record the outcome.
logging.disable(logging.WARNING)


# --------------------------------------------------------------------------------------------
# Glob cases: (glob, text, why). Expected values are filled in by the oracle.

GLOB_CASES = []


def g(glob, texts, why):
    for text in texts if isinstance(texts, list) else [texts]:
        GLOB_CASES.append((glob, text, why))


# Basics: whole-string anchoring, empty glob, '*' alone.
g("*", ["", "a", "example.org", "a.b.c.d", "evil.org:8448", "\n", "a\nb", "\r"],
  "'*' alone: any run of code points except newline")
g("", ["", "a", " "], "empty glob matches only the empty string")
g("?", ["", "a", "ab", "\n", "\r", "\t", " "], "'?' is exactly one code point, never a newline")
g("example.org", ["example.org", "example.org.", "sub.example.org", "example.org:8448",
                  "xexample.org", "example.orgx", "example_org"],
  "literal globs are anchored at both ends; '.' is literal; no port stripping")
g("*.example.org", ["a.example.org", "a.b.example.org", "example.org", ".example.org",
                    "evilexample.org", "a.example.org.evil"], "subdomain glob")
g("*example.org", ["example.org", "evilexample.org", "a.example.org"], "prefix star")
g("example.*", ["example.org", "example.", "example", "example.co.uk"], "suffix star")
g("ex*le.org", ["example.org", "exle.org", "ex.le.org", "exaple.or"], "inner star")
g("ex?mple.org", ["example.org", "exmple.org", "exaample.org"], "inner question mark")
g("evil.org*", ["evil.org:8448", "evil.org", "evil.organic"], "trailing star also eats ports")

# Case insensitivity (ASCII).
g("EXAMPLE.ORG", ["example.org", "EXAMPLE.ORG", "Example.Org"], "upper-case glob")
g("example.org", ["EXAMPLE.ORG", "eXaMpLe.OrG"], "upper-case text")
g("*.EVIL.ORG", ["sub.evil.org", "SUB.Evil.Org"], "upper-case glob with wildcard")
g("Ex?Mple.*", ["eXaMPLE.ORG", "example.org"], "mixed case with wildcards")

# Runs of wildcards are collapsed: n '?' with a '*' -> at least n, without -> exactly n.
for run in ["**", "***", "*?", "?*", "**?*", "*?*?*", "?**?**?", "??", "??*??"]:
    g(run, ["", "a", "ab", "abc", "abcd", "abcde"], f"wildcard run {run!r}")
g("a**b", ["ab", "axb", "axxb", "a\nb"], "double star")
g("a*?*b", ["ab", "axb", "axyb"], "star-question-star needs one code point")
g("a?*?b", ["ab", "axb", "axyb", "axyzb"], "question-star-question needs two")

# '?' counts code points, not bytes or UTF-16 units.
g("?.org", ["\u00fc.org", "u.org", "\u65e5.org", "\U0001F600.org", "\U00020000.org",
            "\u00fc\u00fc.org", "e\u0301.org"], "'?' on multi-byte code points")
g("??.org", ["\u00fc.org", "\u65e5\u672c.org", "\U0001F600.org", "e\u0301.org",
             "\U0001F44D\U0001F3FD.org", "\U0001F1E9\U0001F1EA.org"],
  "two '?' vs one multi-byte code point / two code points")
g("???.org", ["\U0001F600.org", "\u65e5\u672c.org", "\u00fc\u00fc\u00fc.org"],
  "three '?' vs code points of 4, 3 and 2 bytes")
g("?", ["\u00fc", "\u65e5", "\U0001F600", "\U0001F44D\U0001F3FD", "\u200b", "\ufeff",
        "\u0000"], "'?' on a single code point vs a grapheme cluster")
g("*.\u65e5\u672c", ["\u4f8b\u3048.\u65e5\u672c", ".\u65e5\u672c", "x.\u65e5"], "CJK TLD")
g("\u00fc*", ["\u00dcber.org", "\u00fcber.org", "uber.org"], "non-ASCII prefix, case-folded")
g("\u00c4\u00d6\u00dc.org", ["\u00e4\u00f6\u00fc.org", "AOU.org"], "non-ASCII upper vs lower")
g("\u00e9.org", ["\u00c9.org", "e\u0301.org", "E\u0301.org"], "precomposed vs combining")
g("e\u0301.org", ["E\u0301.org", "\u00e9.org"], "combining sequences are two code points")
g("a\u200bb", ["ab", "a\u200bb"], "zero-width space is a real code point")
g("xn--*", ["xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE", "b\u00fccher.example"],
  "punycode prefix")

# IP-literal look-alikes (also give the ip_literal field).
ip_texts = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "1.2.3.4.example.org", "01.2.3.4",
            "1.2.3.04", "001.2.3.4", "256.1.1.1", "1.2.3.256", "1.2.3", "1.2.3.4.5", "1..2.3",
            "1.2.3.", ".1.2.3", " 1.2.3.4", "1.2.3.4 ", "+1.2.3.4", "1.2.3.-4", "1.2.3.0255",
            "1.2.3.4:8448", "\u0661.\u0662.\u0663.\u0664", "\uff11.2.3.4", "[::1]",
            "[2001:db8::1]", "[::1]:8448", "[", "[evil.org", "]", "::1", "2001:db8::1",
            "0x1.2.3.4", "1.2.3.4\u0000", "4294967295", "127.1"]
g("*", ip_texts, "IP-literal look-alike")
g("1.2.3.4", ["1.2.3.4", "1.2.3.4.example.org", "1x2x3x4", "01.2.3.4"], "literal IPv4 glob")
g("1.2.3.*", ["1.2.3.4", "1.2.3.255", "1.2.3.", "1.2.3.4.evil.org"], "IPv4 prefix glob")
g("1.2.3.?", ["1.2.3.4", "1.2.3.45"], "IPv4 single-digit glob")
g("*.2.3.4", ["1.2.3.4", "1.2.3.4.example.org"], "IPv4 suffix glob")
g("[::1]", ["[::1]", "[::1]:8448", "::1"], "IPv6 literal glob; brackets are literal")
g("[*]", ["[2001:db8::1]", "[::1]", "a", "[]"], "brackets around a star")
g("[::?]", ["[::1]", "[::12]"], "question mark in an IPv6 literal")

# Regex metacharacters in entities are literal.
g("a+b.example", ["a+b.example", "ab.example", "aab.example", "aaab.example"], "'+' is literal")
g("(x)|y.org", ["(x)|y.org", "x", "(x)", "y.org"], "parentheses and alternation are literal")
g("[abc].org", ["[abc].org", "a.org", "b.org"], "character class is literal")
g("[^a]", ["[^a]", "b"], "negated class is literal")
g("\\d.org", ["\\d.org", "1.org", "d.org"], "backslash-d is literal")
g("a.b", ["a.b", "aXb", "a\nb"], "dot is literal")
g("$x^", ["$x^", "x"], "anchors are literal")
g("^x$", ["^x$", "x"], "anchors are literal")
g("a{2}", ["a{2}", "aa"], "braces are literal")
g("a{2,}", ["a{2,}", "aaa"], "open braces are literal")
g("a|", ["a|", "a", ""], "trailing alternation is literal")
g("*|*", ["x|y", "x", "|"], "alternation between stars is literal")
g(".*", [".xyz", "abc", "."], "regex dot-star: dot literal, star wildcard")
g(".?", [".b", "ab", "."], "regex dot-question: dot literal, question wildcard")
g("a\\*b", ["a\\b", "a\\xyzb", "a*b", "a\\*b"], "no glob escapes: backslash is literal")
g("a\\?b", ["a\\xb", "a?b", "a\\?b"], "no glob escapes: backslash before '?'")
g("\\", ["\\", "\\\\", ""], "a lone backslash")
g("\\Qa\\E", ["\\Qa\\E", "a"], "RE2/PCRE quoting is literal")
g("(?i)a", ["(?i)a", "a", "A"], "inline flags are literal")
g("\\x41", ["\\x41", "A"], "hex escape is literal")
g("\\p{L}", ["\\p{L}", "a"], "Unicode class is literal")
g("\\A\\z", ["\\A\\z", ""], "regex anchors are literal")
g("a-z", ["a-z", "b"], "hyphen is literal")
for c in "{}[]()#&~-!=/,;'\"%<>`@: _":
    g(f"x{c}y", [f"x{c}y", "xy", f"X{c}Y"], f"punctuation {c!r} is literal")
g("#!/=,;'\"~%&<>`@: -_", ["#!/=,;'\"~%&<>`@: -_"], "punctuation run")
g("a b", ["a b", "ab", "a\tb"], "space is literal")
g("a\tb", ["a\tb", "a b"], "tab is literal")
g("a\nb", ["a\nb", "ab"], "literal newline in a glob")
g("a\u0000b", ["a\u0000b", "ab"], "literal NUL in a glob")
g("a?b", ["a\u0000b", "a\nb", "a\rb"], "'?' on control characters")
g("a*", ["a\n", "a\nb", "a\r\n"], "'*' stops at a newline")

# Unicode case folding (simple folding; record whatever the oracle says).
fold_cases = [
    ("k.org", "\u212a.org", "Kelvin sign U+212A vs k"),
    ("\u212a.org", "k.org", "Kelvin sign glob vs k"),
    ("\u212a.org", "K.org", "Kelvin sign glob vs K"),
    ("\u00df.org", "SS.org", "sharp s vs SS (full folding only)"),
    ("ss.org", "\u00df.org", "ss vs sharp s"),
    ("\u00df.org", "\u1e9e.org", "sharp s vs capital sharp s U+1E9E"),
    ("\u1e9e.org", "ss.org", "capital sharp s vs ss"),
    ("s.org", "\u017f.org", "long s U+017F vs s"),
    ("\u017f.org", "S.org", "long s glob vs S"),
    ("\u03c3", "\u03c2", "sigma vs final sigma"),
    ("\u03a3", "\u03c2", "capital sigma vs final sigma"),
    ("\u00b5", "\u03bc", "micro sign vs mu"),
    ("\u00b5", "\u039c", "micro sign vs capital mu"),
    ("\u01c5", "\u01c4", "titlecase DZ caron vs upper"),
    ("\u01c5", "\u01c6", "titlecase DZ caron vs lower"),
    ("\u212b", "\u00e5", "Angstrom sign vs a-ring"),
    ("\u2126", "\u03c9", "Ohm sign vs omega"),
    ("\u03f4", "\u03b8", "capital theta symbol vs theta"),
    ("\u0345", "\u03b9", "combining ypogegrammeni vs iota"),
    ("\u1fbe", "\u0399", "prosgegrammeni vs capital iota"),
    ("\u0130", "i", "dotted capital I vs i (Turkic only)"),
    ("i", "\u0130", "i vs dotted capital I"),
    ("\u0131", "I", "dotless i vs I (Turkic only)"),
    ("I", "\u0131", "I vs dotless i"),
    ("\ufb03", "FFI", "ffi ligature vs FFI (full folding only)"),
    ("\uff45", "\uff25", "fullwidth e vs fullwidth E"),
    ("\uff45", "e", "fullwidth e vs ASCII e"),
    ("\u1c80", "\u0432", "Cyrillic rounded ve U+1C80 vs ve"),
    ("\u2c2f", "\u2c5f", "Glagolitic U+2C2F vs U+2C5F (Unicode 14)"),
    ("\ua7c0", "\ua7c1", "Latin old polish o U+A7C0/U+A7C1 (Unicode 14)"),
    ("\ua7d0", "\ua7d1", "Latin closed insular g U+A7D0/U+A7D1 (Unicode 14)"),
    ("\U00010570", "\U00010597", "Vithkuqi U+10570/U+10597 (Unicode 14)"),
    ("\u1c89", "\u1c8a", "Cyrillic TJE U+1C89/U+1C8A (Unicode 16)"),
    ("\ua7cb", "\u0264", "Latin ram's horn U+A7CB/U+0264 (Unicode 16)"),
    ("\ua7dc", "\u019b", "Latin lambda with stroke U+A7DC/U+019B (Unicode 16)"),
    ("\ua7cc", "\ua7cd", "Latin S with diagonal stroke U+A7CC/U+A7CD (Unicode 16)"),
    ("\ua7da", "\ua7db", "Latin lambda U+A7DA/U+A7DB (Unicode 16)"),
    ("\U00010d50", "\U00010d70", "Garay U+10D50/U+10D70 (Unicode 16)"),
    ("*.\u1c8a", "x.\u1c89", "Unicode 16 pair, lower-case glob vs upper-case text"),
    ("\U0001e900", "\U0001e922", "Adlam U+1E900/U+1E922"),
    ("\u10a0", "\u2d00", "Georgian Asomtavruli vs Nuskhuri"),
    ("\u13a0", "\uab70", "Cherokee U+13A0/U+AB70"),
]
for glob, text, why in fold_cases:
    g(glob, text, why)
g("?.org", ["\u212a.org", "\u1e9e.org"], "one '?' for the Kelvin sign / capital sharp s")

# Large repetition counts: Synapse compiles '?'*n to .{n}; its regex size limit is 10 MiB.
for n in (999, 1000, 1001, 2500, 5000):
    g("?" * n, ["a" * n, "a" * (n - 1)], f"{n} question marks")
g("*" + "?" * 1001, ["a" * 1001, "a" * 1000], "star plus 1001 question marks")

# --------------------------------------------------------------------------------------------
# ACL cases: (content, [servers], why).

ACL_CASES = []


def a(content, servers, why):
    ACL_CASES.append((content, servers, why))


STD = {"allow": ["*"], "deny": ["evil.org", "*.evil.org"], "allow_ip_literals": False}
a(STD, ["evil.org", "evil.org:8448", "EVIL.ORG", "Evil.Org:443", "sub.evil.org:443",
        "a.b.evil.org", "good.org", "good.org:8448", "notevil.org", "evil.org.good.org",
        "1.2.3.4", "1.2.3.4:8448", "[::1]", "[::1]:8448", "[2001:db8::1]:443", "256.1.1.1",
        "01.2.3.4", "1.2.3.4.example.org", "localhost", "localhost:8008"],
  "typical ACL with IP literals denied")
a({"allow": ["*"], "deny": ["evil.org"], "allow_ip_literals": True},
  ["1.2.3.4", "1.2.3.4:8448", "[::1]:8448", "evil.org:8448"], "IP literals allowed explicitly")
a({"allow": ["*"], "deny": []}, ["1.2.3.4", "[::1]", "[::1]:8448", "example.org"],
  "allow_ip_literals missing means true")
for v in ["yes", "false", 0, 1, None, [], {}]:
    a({"allow": ["*"], "allow_ip_literals": v}, ["1.2.3.4", "[::1]:8448"],
      f"non-bool allow_ip_literals {json.dumps(v)} means true")
a({"deny": []}, ["example.org", "1.2.3.4"], "missing allow denies all")
a({}, ["example.org", "localhost:8448"], "empty content (e.g. redacted ACL) denies all")
for v in ["*", {"*": True}, None, 1, True]:
    a({"allow": v}, ["example.org"], f"non-list allow {json.dumps(v)} means []")
a({"allow": [1, "*"]}, ["example.org"], "non-string allow entries dropped, strings kept")
a({"allow": [None, True, 3, {"x": "*"}, ["*"]]}, ["example.org"],
  "allow with only non-strings denies all")
a({"allow": ["*"], "deny": ["evil.org", 5, {"x": 1}, None]}, ["evil.org", "good.org"],
  "non-string deny entries dropped")
a({"allow": ["*"], "deny": "evil.org"}, ["evil.org"], "deny as a string is ignored")
a({"allow": ["*"], "deny": {"evil.org": True}}, ["evil.org"], "deny as an object is ignored")
a({"allow": ["evil.org"], "deny": ["evil.org"]}, ["evil.org", "good.org"], "deny beats allow")
a({"allow": ["*.good.org", "good.org"]}, ["good.org", "good.org:8448", "sub.good.org",
                                          "bad.org", "GOOD.ORG"], "explicit allow list")
a({"allow": ["1.2.3.4", "[::1]"], "allow_ip_literals": False}, ["1.2.3.4", "[::1]:8448"],
  "allowed by glob but refused as an IP literal")
a({"allow": ["1.2.3.4", "[::1]"]}, ["1.2.3.4:8448", "[::1]:8448", "[::1]"],
  "IP literals allowed by glob")
a({"allow": ["*"], "deny": ["evil.org:8448"]}, ["evil.org:8448", "evil.org"],
  "a port in a deny glob never matches: the port is stripped from the server")
a({"allow": ["*"], "deny": ["evil.org*"]}, ["evil.org:8448", "evil.organic"],
  "trailing star deny")
a({"allow": ["*"], "deny": ["EVIL.ORG"]}, ["evil.org:8448"], "upper-case deny glob")
a({"allow": ["*"], "deny": ["\u00fc.org"]}, ["\u00dc.org:8448", "u.org"], "non-ASCII deny")
a({"allow": ["*"], "deny": ["[::1]"], "allow_ip_literals": True}, ["[::1]", "[::1]:8448",
                                                                  "[::2]:8448"],
  "IPv6 deny by glob")
a({"allow": ["*"], "deny": []}, ["::1"], "an unbracketed IPv6 split at its last colon")
a({"allow": [], "deny": []}, ["example.org"], "empty allow denies all")
a({"allow": ["*"], "deny": ["*"]}, ["example.org", "1.2.3.4"], "deny star denies all")
a({"allow": ["*"], "deny": [""]}, ["example.org"], "empty deny glob matches nothing real")
a({"allow": ["?.org"], "deny": []}, ["\u00fc.org", "ab.org", "a.org:8448"],
  "question mark counts code points")
a({"allow": ["*"], "deny": ["k.org"]}, ["\u212a.org"], "Kelvin sign folds to k")
a({"allow": ["*"], "deny": ["\u0264.org"]}, ["\ua7cb.org:8448", "\u0264.org"],
  "Unicode 16 case pair U+0264/U+A7CB")
a({"allow": ["*"], "deny": ["?" * 1001]}, ["a" * 1001, "a" * 1000],
  "a deny glob of 1001 question marks")
a({"allow": ["*"], "deny": ["*.evil.org"], "allow_ip_literals": False},
  ["1.2.3.4.evil.org", "evil.org"], "IP-looking subdomain is not an IP literal")
a({"allow": ["*"], "deny": [], "allow_ip_literals": False, "extra": "ignored"},
  ["example.org"], "unknown keys ignored")


# --------------------------------------------------------------------------------------------


def glob_oracle(glob, text):
    allowed_by_allow = ServerAclEvaluator(True, [glob], []).server_matches_acl_event(text)
    if "\n" not in text:
        # Cross-check: denying the glob under allow ['*'] refuses exactly what it matches.
        denied = not ServerAclEvaluator(True, ["*"], [glob]).server_matches_acl_event(text)
        assert denied == allowed_by_allow, (glob, text)
    return allowed_by_allow


def ip_literal_oracle(text):
    admitted = ServerAclEvaluator(True, ["*"], []).server_matches_acl_event(text)
    assert admitted, text
    return not ServerAclEvaluator(False, ["*"], []).server_matches_acl_event(text)


class _Event:
    def __init__(self, content):
        self.content = content


def acl_oracle(content, server):
    host, _ = parse_server_name(server)
    return server_acl_evaluator_from_event(_Event(content)).server_matches_acl_event(host)


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
    print(f"wrote {path}")


def main():
    header = {
        "generator": "scripts/gen_policy_vectors.py (regenerate: python3 "
                     "scripts/gen_policy_vectors.py /tmp/synvenv/bin/python; do not edit by hand)",
        "oracle": f"synapse {synapse.__version__} (synapse.synapse_rust.acl.ServerAclEvaluator)",
    }
    glob_vectors = []
    seen = set()
    for glob, text, why in GLOB_CASES:
        if (glob, text) in seen:
            continue
        seen.add((glob, text))
        v = {"glob": glob, "text": text, "match": glob_oracle(glob, text), "why": why}
        if "\n" not in text:
            v["ip_literal"] = ip_literal_oracle(text)
        glob_vectors.append(v)
    write("tests/fixtures/glob/vectors.json", {
        **header,
        "semantics": "match = Synapse's server-ACL glob match of the whole text, no port "
                     "stripping; ip_literal = Synapse treats the text as an IP literal",
        "vectors": glob_vectors,
    })

    acl_vectors = []
    for content, servers, why in ACL_CASES:
        for server in servers:
            acl_vectors.append({"acl": content, "server": server,
                                "allowed": acl_oracle(content, server), "why": why})
    write("tests/fixtures/acl/vectors.json", {
        **header,
        "semantics": "allowed = Synapse admits a federation request from `server` (port "
                     "stripped with parse_server_name) under m.room.server_acl content `acl`",
        "vectors": acl_vectors,
    })
    print(f"{len(glob_vectors)} glob vectors, {len(acl_vectors)} ACL vectors")


if __name__ == "__main__":
    main()
