#!/usr/bin/env python3
"""Load-and-faults soak of Tyr against a throwaway Synapse on loopback (not part of ctest).

Run through scripts/soak.sh, or directly with the project's venv python (it needs `requests`,
which Synapse's venv has):

    .venv/bin/python scripts/soak.py --duration 180 --rate 20

What it does (docs/soak.md has the details and measured figures):
  1. scratch dir under /tmp; homeserver.yaml (SQLite, no federation, rate limits lifted, shared
     registration secret, Tyr's registration and the synapse-http-antispam block printed by
     `tyr synapse-config`); tyr.yaml with rules, veto and admin sections; `tyr registration`.
  2. Synapse and `tyr run` as separate processes (own process groups, logs in the scratch dir);
     an operator and N senders registered with the shared secret; a management room; K public
     v12 rooms with Tyr at PL 100, protected with `!tyr rooms add`.
  3. load: a fixed-rate open-loop schedule of ham and spam from the SMS spam corpus, every send
     timed; each message's label and offline verdict (`tyr check --rules`) known in advance.
  4. faults at fixed points: malformed/oversized requests at every Tyr listener; kill -9 of Tyr
     and a restart; Synapse stopped (SIGTERM) for min(60, duration/3) s and started again.
  5. drain, then verify: nothing lost, no action doubled, spam redacted, ham untouched; report
     rates, latencies, CPU and RSS per process lifetime, fault results, PASS/FAIL.
  6. every process it started is stopped on exit, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import json
import math
import os
import queue
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    import requests
except ImportError:  # pragma: no cover
    sys.exit("soak.py needs `requests`: run it with the project's venv python (.venv/bin/python)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TYR = os.path.join(ROOT, "build", "cli", "tyr")
DEFAULT_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
DEFAULT_CORPUS = "/work/shared/data/sms-spam/train.jsonl"
DEFAULT_RULES = os.path.join(ROOT, "rules", "default")
SERVER_NAME = "localhost"
BOT = "@tyr:" + SERVER_NAME
VETO_REFUSAL = "This message was refused by the server's spam filter."
CLK_TCK = os.sysconf("SC_CLK_TCK")

mono = time.monotonic


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    """Nearest-rank percentile (q in 0..100) of a list; None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(math.ceil(q / 100.0 * len(v))) - 1))
    return v[k]


def ms(x):
    return None if x is None else round(x * 1000.0, 1)


# ---------------------------------------------------------------------------------------------
# Processes


class Proc:
    """A child in its own process group, output to a log file, pid recorded in the scratch dir
    (scripts/soak.sh kills whatever is left of it if this driver dies)."""

    def __init__(self, name, argv, cwd, logfile, piddir):
        self.name, self.argv, self.cwd, self.logfile, self.piddir = name, argv, cwd, logfile, piddir
        self.p = None
        self.lifetimes = []  # one dict per start: pid, start, end, cpu_s, hwm_kb, end reason
        self.expected_exit = False

    @property
    def pid(self):
        return self.p.pid if self.p else None

    def start(self):
        out = open(self.logfile, "ab")
        out.write(f"\n==== soak: starting {' '.join(self.argv)} at {time.ctime()} ====\n".encode())
        out.flush()
        self.p = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.expected_exit = False
        with open(os.path.join(self.piddir, f"{self.name}.pid"), "w") as f:
            f.write(f"{self.p.pid}\n")
        self.lifetimes.append({"pid": self.p.pid, "started": time.time(), "started_mono": mono(),
                               "ended": None, "end": None, "cpu_s": 0.0, "hwm_kb": 0, "rss_max_kb": 0})
        return self.p.pid

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def sample(self):
        """Reads utime+stime and VmHWM of the live process into its current lifetime."""
        if not self.alive():
            return
        pid, lt = self.p.pid, self.lifetimes[-1]
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            lt["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (14, 15)
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        lt["hwm_kb"] = max(lt["hwm_kb"], int(line.split()[1]))
                    elif line.startswith("VmRSS:"):
                        lt["rss_max_kb"] = max(lt["rss_max_kb"], int(line.split()[1]))
        except (OSError, IndexError, ValueError):
            pass

    def signal(self, sig):
        if not self.alive():
            return
        try:
            os.killpg(self.p.pid, sig)
        except OSError:
            try:
                os.kill(self.p.pid, sig)
            except OSError:
                pass

    def _ended(self, reason):
        lt = self.lifetimes[-1] if self.lifetimes else None
        if lt is not None and lt["ended"] is None:
            lt["ended"] = time.time()
            lt["end"] = reason
            lt["exit"] = self.p.returncode if self.p else None

    def kill9(self):
        self.sample()
        self.expected_exit = True
        self.signal(signal.SIGKILL)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._ended("kill -9")

    def stop(self, grace=30.0, reason="stopped (SIGTERM)"):
        if self.p is None:
            return
        if self.p.poll() is not None:
            self._ended(self.lifetimes[-1].get("end") or f"exited {self.p.returncode}")
            return
        self.sample()
        self.expected_exit = True
        t = mono()
        self.signal(signal.SIGTERM)
        try:
            self.p.wait(grace)
            self.lifetimes[-1]["stop_s"] = round(mono() - t, 2)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            reason += f", SIGKILL after {grace:.0f} s"
        self._ended(reason)

    def check_unexpected_exit(self):
        """Records an exit nobody asked for; returns True once for such an exit."""
        if self.p is None or self.expected_exit or self.p.poll() is None:
            return False
        self.expected_exit = True
        self._ended(f"UNEXPECTED exit {self.p.returncode}")
        return True


def log_tail(path, lines=30, grep=None):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 512 * 1024))
            text = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    if grep:
        text = [t for t in text if re.search(grep, t)]
    return text[-lines:]


# ---------------------------------------------------------------------------------------------
# Raw HTTP (for the malformed requests: requests/urllib refuse to send some of them)


def _complete(resp):
    head, sep, body = resp.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        return len(body) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        return body.endswith(b"0\r\n\r\n")
    return False


def raw_http(port, method, path, headers=None, body=b"", chunked=False, raw=None, timeout=10.0):
    """Sends one request on a fresh connection and returns (status, headers, body, note). status is
    None when no HTTP answer came back (the note says why)."""
    headers = dict(headers or {})
    if raw is None:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        elif body or method in ("POST", "PUT"):
            headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            head += f"{k}: {v}\r\n"
        head += "\r\n"
        if chunked:
            payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [body[i:i + 4096] for i in range(0, len(body), 4096)] if c)
            payload += b"0\r\n\r\n"
        else:
            payload = body
        data = head.encode() + payload
    else:
        data = raw
    note = ""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            view = memoryview(data)
            while view:
                n = s.send(view[:65536])
                view = view[n:]
        except (BrokenPipeError, ConnectionResetError) as e:
            note = f"server closed while sending ({type(e).__name__}, {len(data) - len(view)} of {len(data)} bytes sent)"
        # No half-close: some servers drop a half-closed connection before answering. The
        # request says Connection: close, so the answer ends with EOF.
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
                if _complete(b"".join(chunks)):
                    break  # a keep-alive answer: do not wait for the server's idle timeout
        except (ConnectionResetError, socket.timeout) as e:
            note += ("; " if note else "") + f"reading: {type(e).__name__}"
        resp = b"".join(chunks)
    finally:
        s.close()
    if not resp.startswith(b"HTTP/"):
        return None, {}, resp[:200].decode("utf-8", "replace"), note or "no HTTP answer"
    head, _, rbody = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    rh = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        rh[k.strip().lower()] = v.strip()
    if rh.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", rbody
        while rest:
            size_s, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_s.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        rbody = out
    return status, rh, rbody.decode("utf-8", "replace"), note


# ---------------------------------------------------------------------------------------------
# Prometheus text format


LINE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE_RE.match(line)
        if not m:
            continue
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    if not samples:
        return None
    want = set(labels.items())
    vals = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    return sum(vals) if vals else None


def histogram(samples, name, **labels):
    """{le: cumulative count} of a histogram's buckets (summed over matching series)."""
    out = collections.defaultdict(float)
    if not samples:
        return {}
    want = set(labels.items())
    for (n, ls), v in samples.items():
        if n != name + "_bucket" or not want <= set(ls):
            continue
        le = dict(ls).get("le")
        out[math.inf if le == "+Inf" else float(le)] += v
    return dict(out)


def hist_sub(a, b):
    return {le: a.get(le, 0.0) - b.get(le, 0.0) for le in a}


def hist_add(a, b):
    keys = set(a) | set(b)
    return {le: a.get(le, 0.0) + b.get(le, 0.0) for le in keys}


def hist_quantile(buckets, q):
    """Prometheus' histogram_quantile over cumulative buckets: linear within the bucket."""
    if not buckets:
        return None
    les = sorted(buckets)
    total = buckets[les[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = buckets[le]
        if c >= rank:
            if le == math.inf:
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return les[-1]


# ---------------------------------------------------------------------------------------------
# Matrix


class MatrixError(Exception):
    def __init__(self, status, body):
        self.status, self.body = status, body
        super().__init__(f"HTTP {status}: {json.dumps(body)[:300]}")


class Client:
    def __init__(self, base, token=None, timeout=30.0):
        self.base, self.token, self.timeout = base, token, timeout
        self.s = requests.Session()

    def req(self, method, path, body=None, params=None, timeout=None, token=None):
        headers = {}
        tok = token or self.token
        if tok:
            headers["Authorization"] = "Bearer " + tok
        r = self.s.request(method, self.base + path, json=body, params=params, headers=headers,
                           timeout=(5, timeout or self.timeout))
        try:
            data = r.json()
        except ValueError:
            data = {"raw": r.text[:300]}
        if r.status_code != 200:
            raise MatrixError(r.status_code, data)
        return data


def q(s):
    return urllib.parse.quote(s, safe="")


def retrying(what, fn, attempts=20, delay=0.5):
    last = None
    for i in range(attempts):
        try:
            return fn()
        except (requests.RequestException, MatrixError) as e:
            last = e
            if isinstance(e, MatrixError) and e.status in (400, 401, 403, 404) and i >= 2:
                break
            time.sleep(delay)
    raise RuntimeError(f"{what}: {last}")


# ---------------------------------------------------------------------------------------------
# The soak


class Soak:
    def __init__(self, a):
        self.a = a
        self.dir = os.path.abspath(a.dir) if a.dir else tempfile.mkdtemp(prefix="tyr-soak-", dir="/tmp")
        os.makedirs(self.dir, exist_ok=True)
        self.syn_dir = os.path.join(self.dir, "synapse")
        os.makedirs(self.syn_dir, exist_ok=True)
        self.ports = {"synapse": free_port(), "appservice": free_port(), "veto": free_port(), "admin": free_port()}
        self.base = f"http://127.0.0.1:{self.ports['synapse']}"
        self.shared_secret = hashlib.sha256(os.urandom(32)).hexdigest()
        self.veto_secret = "soak-veto-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
        self.rng = random.Random(a.seed)
        self.stop_all = threading.Event()
        self.lock = threading.Lock()
        self.synapse = None
        self.tyr = None
        self.notes = []  # surprises worth reporting
        # watcher state
        self.mgmt_room = None
        self.rooms = []
        self.seen = {}            # event_id -> (t_seen, room, type, sender)
        self.redactions = collections.defaultdict(list)  # target -> [(redaction id, sender, t_seen)]
        self.mgmt_msgs = []       # (t_seen, sender, body, event_id)
        self.sync_stats = {"ok": 0, "errors": 0, "limited": 0}
        # metrics
        self.metrics_ok = None    # None: never tried; True/False: last scrape worked
        self.metrics_status = []  # (t, outcome) transitions
        self.last_scrape = None   # samples of the current Tyr lifetime
        self.lifetime_scrapes = []  # final scrape per Tyr lifetime (index = lifetime)
        self.baseline = None
        self.depth_series = []    # (t_rel, inbox, outbox)
        # load
        self.sends = []
        self.faults = []
        self.t0 = None
        self.t_load_end = None
        self.synapse_down = []    # (t_rel start, t_rel back)
        self.tyr_down = []
        self.loadavg_start = os.getloadavg()
        self.measurers = []

    # -- setup ---------------------------------------------------------------------------------

    def write_configs(self):
        a = self.a
        rules_dir = a.rules
        if a.reject_threshold is not None:
            # Copy of the rule pack with a reject threshold above redact, so that spam scoring
            # between the two is accepted by the veto and redacted by the appservice path.
            rules_dir = os.path.join(self.dir, "rules")
            shutil.copytree(a.rules, rules_dir)
            p = os.path.join(rules_dir, "00-thresholds.yaml")
            text = open(p).read()
            text = re.sub(r"(\nthresholds:\n)", f"\\1  reject: {a.reject_threshold}\n", text, count=1)
            open(p, "w").write(text)
        self.rules_dir = rules_dir
        self.tyr_yaml = os.path.join(self.dir, "tyr.yaml")
        with open(self.tyr_yaml, "w") as f:
            f.write(f"""# Written by scripts/soak.py
homeserver:
  url: "{self.base}"
  server_name: {SERVER_NAME}
appservice:
  bind_address: 127.0.0.1
  port: {self.ports['appservice']}
  registration: registration.yaml
management:
  room: "#tyr-admin:{SERVER_NAME}"
  operators: ["@operator:{SERVER_NAME}"]
data_dir: tyr-data
log_level: {a.tyr_log_level}
rules:
  dir: {rules_dir}
veto:
  port: {self.ports['veto']}
  secret: {self.veto_secret}
admin:
  port: {self.ports['admin']}
""")
        subprocess.run([a.tyr, "registration", "--config", self.tyr_yaml], check=True, capture_output=True, timeout=60)
        reg = open(os.path.join(self.dir, "registration.yaml")).read()
        self.as_token = re.search(r"^as_token: (\S+)", reg, re.M).group(1)
        self.hs_token = re.search(r"^hs_token: (\S+)", reg, re.M).group(1)
        additions = subprocess.run([a.tyr, "synapse-config", "--config", self.tyr_yaml], check=True,
                                   capture_output=True, text=True, timeout=60).stdout
        relaxed = "{per_second: 1000, burst_count: 1000}"
        rl = "".join(f"{k}: {relaxed}\n" for k in [
            "rc_message", "rc_registration", "rc_registration_token_validity", "rc_joins_per_room",
            "rc_room_creation", "rc_reports", "rc_admin_redaction", "rc_media_create", "rc_3pid_validation",
            "rc_third_party_invite", "rc_delayed_event_mgmt", "rc_user_directory", "rc_profile",
            "rc_key_requests"])
        d = self.syn_dir
        with open(os.path.join(d, "log_config.yaml"), "w") as f:
            f.write(f"""version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {json.dumps(os.path.join(d, 'homeserver.log'))}
    encoding: utf8
loggers:
  synapse.storage.SQL:
    level: INFO
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
""")
        self.hs_yaml = os.path.join(d, "homeserver.yaml")
        with open(self.hs_yaml, "w") as f:
            f.write(f"""# Written by scripts/soak.py (mirrors cli/sandbox/synapse_process.cpp)
server_name: "{SERVER_NAME}"
listeners:
  - port: {self.ports['synapse']}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {json.dumps(os.path.join(d, 'homeserver.db'))}
log_config: {json.dumps(os.path.join(d, 'log_config.yaml'))}
media_store_path: {json.dumps(os.path.join(d, 'media_store'))}
signing_key_path: {json.dumps(os.path.join(d, 'signing.key'))}
registration_shared_secret: "{self.shared_secret}"
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: false
federation_domain_whitelist: []
bcrypt_rounds: 4
# Rate limits relaxed for the soak.
{rl}rc_joins:
  local: {relaxed}
  remote: {relaxed}
rc_login:
  address: {relaxed}
  account: {relaxed}
  failed_attempts: {relaxed}
rc_invites:
  per_room: {relaxed}
  per_user: {relaxed}
  per_issuer: {relaxed}
rc_presence:
  per_user: {relaxed}
rc_federation: {{window_size: 1000, sleep_limit: 1000, reject_limit: 1000, concurrent: 100}}
# `tyr synapse-config --config tyr.yaml`:
{additions}""")

    def start_synapse(self, first=False):
        a = self.a
        if first:
            subprocess.run([a.python, "-m", "synapse.app.homeserver", "-c", self.hs_yaml, "--generate-keys"],
                           cwd=self.syn_dir, check=True, capture_output=True, timeout=120)
            self.synapse = Proc("synapse", [a.python, "-m", "synapse.app.homeserver", "-c", self.hs_yaml],
                                self.syn_dir, os.path.join(self.syn_dir, "synapse.stdout.log"), self.dir)
        if self.stop_all.is_set():
            raise RuntimeError("stopping: Synapse not restarted")
        t = mono()
        self.synapse.start()
        deadline = t + 120
        while mono() < deadline:
            if not self.synapse.alive():
                raise RuntimeError("Synapse exited during startup:\n" +
                                   "\n".join(log_tail(os.path.join(self.syn_dir, "synapse.stdout.log"), 20)))
            try:
                if requests.get(self.base + "/_matrix/client/versions", timeout=1).status_code == 200:
                    return mono() - t
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("Synapse did not answer within 120 s")

    def register(self, localpart, password, admin=False):
        def go():
            nonce = requests.get(self.base + "/_synapse/admin/v1/register", timeout=10).json()["nonce"]
            msg = b"\0".join([nonce.encode(), localpart.encode(), password.encode(),
                              b"admin" if admin else b"notadmin"])
            mac = hmac.new(self.shared_secret.encode(), msg, hashlib.sha1).hexdigest()
            r = requests.post(self.base + "/_synapse/admin/v1/register", timeout=60,
                              json={"nonce": nonce, "username": localpart, "password": password,
                                    "admin": admin, "mac": mac})
            if r.status_code != 200:
                raise MatrixError(r.status_code, r.json())
            return r.json()
        return retrying("register " + localpart, go, attempts=5)

    def start_tyr(self, first=False):
        if first:
            self.tyr = Proc("tyr", [self.a.tyr, "run", "--config", self.tyr_yaml], self.dir,
                            os.path.join(self.dir, "tyr.log"), self.dir)
        if self.stop_all.is_set():
            raise RuntimeError("stopping: Tyr not restarted")
        self.last_scrape = None
        t = mono()
        self.tyr.start()
        return t

    def wait_tyr_ready(self, started, timeout=90.0, tag="ready"):
        """Ready = Tyr answers `!tyr ping` in the management room (as the e2e harness does).
        Returns seconds since `started`, or None."""
        deadline = started + timeout
        attempt = 0
        while mono() < deadline and not self.stop_all.is_set():
            if not self.tyr.alive():
                return None
            attempt += 1
            token = f"{tag}-{len(self.tyr.lifetimes)}-{attempt}-{random.randrange(10**6)}"
            try:
                self.say(self.op, self.mgmt_room, "!tyr ping " + token)
            except Exception:
                time.sleep(1)
                continue
            if self.wait_reply("pong " + token, 4.0):
                return mono() - started
        return None

    def wait_readyz(self, started, timeout):
        """Seconds from `started` until the admin listener's /readyz answers 200 (None: never)."""
        deadline = started + timeout
        while mono() < deadline and self.tyr.alive():
            try:
                if requests.get(f"http://127.0.0.1:{self.ports['admin']}/readyz", timeout=1).status_code == 200:
                    return mono() - started
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return None

    def say(self, client, room, text):
        txn = f"soak-{time.time_ns()}-{random.randrange(10**9)}"
        return client.req("PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{txn}",
                          {"msgtype": "m.text", "body": text})["event_id"]

    def wait_reply(self, needle, timeout, since=0.0):
        deadline = mono() + timeout
        while mono() < deadline:
            with self.lock:
                for t, sender, body, _ in self.mgmt_msgs:
                    if t >= since and sender == BOT and needle in body:
                        return body
            time.sleep(0.1)
        return None

    def snapshot_binary(self):
        """Runs a private copy of the tyr binary: others rebuild build/cli/tyr while the soak runs
        (a restart must start the same build, and a half-written file must not be exec'd)."""
        src = self.a.tyr
        dst = os.path.join(self.dir, "tyr-bin")
        for attempt in range(60):
            try:
                shutil.copy2(src, dst)
                v = subprocess.run([dst, "--version"], capture_output=True, text=True, timeout=30)
                if v.returncode == 0:
                    self.tyr_version = v.stdout.strip()
                    st = os.stat(src)
                    self.tyr_build = {"source": src, "mtime": time.ctime(st.st_mtime), "size": st.st_size,
                                      "version": self.tyr_version}
                    self.a.tyr = dst
                    return
            except OSError:
                pass
            time.sleep(5)
        raise RuntimeError(f"cannot copy a working tyr binary from {src}")

    def setup(self):
        a = self.a
        log(f"scratch dir {self.dir}; ports {self.ports}")
        self.snapshot_binary()
        log(f"tyr binary: {self.tyr_build}")
        self.load_corpus()
        self.write_configs()
        log("starting Synapse")
        dt = self.start_synapse(first=True)
        log(f"Synapse up in {dt:.1f} s")
        op = self.register("operator", "operator-pw", admin=True)
        self.op = Client(self.base, op["access_token"])
        self.op_token = op["access_token"]
        self.senders = []
        for i in range(a.senders):
            u = self.register(f"sender{i:02d}", f"sender{i:02d}-pw")
            self.senders.append((u["user_id"], u["access_token"]))
        log(f"registered operator and {len(self.senders)} senders")
        self.mgmt_room = self.op.req("POST", "/_matrix/client/v3/createRoom", {
            "preset": "private_chat", "room_alias_name": "tyr-admin", "name": "Tyr management",
            "invite": [BOT]})["room_id"]
        threading.Thread(target=self.sync_loop, name="sync", daemon=True).start()
        threading.Thread(target=self.sampler_loop, name="sampler", daemon=True).start()
        log("starting Tyr")
        started = self.start_tyr(first=True)
        ready = self.wait_tyr_ready(started, timeout=120)
        if ready is None:
            raise RuntimeError("Tyr did not answer a ping within 120 s:\n" + "\n".join(log_tail(self.tyr.logfile, 30)))
        self.first_ready_s = ready
        log(f"Tyr answers in the management room {ready:.1f} s after start")
        for k in range(a.rooms):
            rid = self.op.req("POST", "/_matrix/client/v3/createRoom", {
                "preset": "public_chat", "room_version": "12", "room_alias_name": f"soak{k}",
                "name": f"soak room {k}", "invite": [BOT],
                "power_level_content_override": {"users": {BOT: 100}}})["room_id"]
            self.rooms.append(rid)
        jobs = [(uid, tok, rid) for uid, tok in self.senders for rid in self.rooms]

        def joiner(part):
            c = Client(self.base)
            for uid, tok, rid in part:
                retrying(f"{uid} joins {rid}", lambda: c.req("POST", f"/_matrix/client/v3/join/{q(rid)}", {}, token=tok))
        ts = [threading.Thread(target=joiner, args=(jobs[i::3],)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        log(f"{len(self.rooms)} rooms created, {len(jobs)} joins done")
        for rid in self.rooms:
            since = mono()
            self.say(self.op, self.mgmt_room, "!tyr rooms add " + rid)
            if not self.wait_reply("Now protecting " + rid, 60, since - 1):
                raise RuntimeError(f"Tyr did not protect {rid}:\n" + "\n".join(log_tail(self.tyr.logfile, 30)))
        log("all rooms protected")
        time.sleep(3)  # room state loads
        self.baseline = self.scrape()
        if self.baseline is None:
            self.note("admin listener: /metrics not available at the start of the load")

    # -- corpus --------------------------------------------------------------------------------

    def load_corpus(self):
        """Scores the corpus offline with the same rules (`tyr check --rules`), so each message's
        expected verdict is known, and builds the pools the load draws from."""
        a = self.a
        out = subprocess.run([a.tyr, "check", "--rules", a.rules, a.corpus], capture_output=True,
                             text=True, timeout=300, check=True).stdout
        pools = collections.defaultdict(list)
        for line in out.splitlines():
            j = json.loads(line)
            body, label, verdict, score = j["content"]["body"], j.get("label"), j["verdict"], j["score"]
            if verdict in ("kick", "ban"):
                continue  # would remove the sender from the room: kept out of a fixed-rate load
            if label == "ham" and verdict in ("allow", "notify"):
                pools["ham"].append((body, label, verdict, score))
            elif label == "spam" and verdict == "redact":
                pools["spam_flagged"].append((body, label, verdict, score))
            elif label == "spam":
                pools["spam_missed"].append((body, label, verdict, score))
        self.pools = pools
        self.pool_sizes = {k: len(v) for k, v in pools.items()}
        log(f"corpus pools: {self.pool_sizes}")

    def pick(self):
        if self.rng.random() < self.a.spam_fraction:
            n_f, n_m = len(self.pools["spam_flagged"]), len(self.pools["spam_missed"])
            pool = "spam_flagged" if self.rng.random() < self.a.flagged_share else "spam_missed"
            if not (n_f and n_m):
                pool = "spam_flagged" if n_f else "spam_missed"
        else:
            pool = "ham"
        return pool, self.rng.choice(self.pools[pool])

    # -- background loops ----------------------------------------------------------------------

    def sync_loop(self):
        """The operator's /sync: when each event (and each redaction) became visible."""
        c = Client(self.base, self.op_token, timeout=40)
        flt = json.dumps({"presence": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]},
                          "room": {"timeline": {"limit": 1000}, "state": {"lazy_load_members": True},
                                   "ephemeral": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]}}})
        since = None
        while not self.stop_all.is_set():
            params = {"filter": flt, "timeout": "5000"}
            if since:
                params["since"] = since
            try:
                r = c.req("GET", "/_matrix/client/v3/sync", params=params, timeout=30)
            except Exception:
                self.sync_stats["errors"] += 1
                time.sleep(1)
                continue
            t = mono()
            self.sync_stats["ok"] += 1
            incremental = since is not None
            since = r.get("next_batch", since)
            with self.lock:
                for rid, room in r.get("rooms", {}).get("join", {}).items():
                    tl = room.get("timeline", {})
                    if tl.get("limited") and incremental:
                        self.sync_stats["limited"] += 1
                    for ev in tl.get("events", []):
                        eid = ev.get("event_id")
                        if eid in self.seen:
                            continue
                        self.seen[eid] = (t, rid, ev.get("type"), ev.get("sender"))
                        if ev.get("type") == "m.room.redaction":
                            target = ev.get("redacts") or ev.get("content", {}).get("redacts")
                            if target:
                                self.redactions[target].append((eid, ev.get("sender"), t))
                        elif rid == self.mgmt_room and ev.get("type") == "m.room.message":
                            self.mgmt_msgs.append((t, ev.get("sender"), ev.get("content", {}).get("body", ""), eid))

    def scrape(self):
        try:
            r = requests.get(f"http://127.0.0.1:{self.ports['admin']}/metrics", timeout=3)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}")
            s = parse_metrics(r.text)
            ok = True
        except Exception as e:
            s, ok = None, False
            err = str(e)[:120]
        if ok != self.metrics_ok:
            self.metrics_status.append((round(self.rel(), 1), "ok" if ok else "unavailable: " + err))
            self.metrics_ok = ok
        if s is not None and self.tyr is not None and self.tyr.alive():
            self.last_scrape = s
            while len(self.lifetime_scrapes) < len(self.tyr.lifetimes):
                self.lifetime_scrapes.append(None)
            self.lifetime_scrapes[len(self.tyr.lifetimes) - 1] = s
        return s

    def rel(self):
        return mono() - self.t0 if self.t0 else -1.0

    def sampler_loop(self):
        n = 0
        while not self.stop_all.is_set():
            for p in (self.tyr, self.synapse):
                if p is not None:
                    p.sample()
            if self.tyr is not None and self.tyr.check_unexpected_exit():
                tail = log_tail(self.tyr.logfile, 25)
                self.note(f"Tyr exited unexpectedly (code {self.tyr.p.returncode}) at t={self.rel():.1f} s", tail)
            if self.synapse is not None and self.synapse.check_unexpected_exit():
                self.note(f"Synapse exited unexpectedly at t={self.rel():.1f} s",
                          log_tail(os.path.join(self.syn_dir, "synapse.stdout.log"), 20))
            if n % 2 == 0 and self.tyr is not None and self.tyr.alive():
                s = self.scrape()
                if s is not None and self.t0:
                    self.depth_series.append((round(self.rel(), 1), metric(s, "tyr_inbox_depth"), metric(s, "tyr_outbox_depth")))
            n += 1
            time.sleep(1.0)

    def note(self, text, excerpt=None):
        log("NOTE: " + text)
        self.notes.append({"t": round(self.rel(), 1), "note": text, "excerpt": excerpt or []})

    # -- load ----------------------------------------------------------------------------------

    def load(self):
        a = self.a
        total = int(a.duration * a.rate)
        jobs = queue.Queue()
        n_pairs = len(self.senders) * len(self.rooms)
        pair_gap = n_pairs / a.rate
        log(f"load: {total} sends over {a.duration} s at {a.rate}/s by {a.workers} workers; "
            f"{len(self.senders)} senders x {len(self.rooms)} rooms, one message per sender and room every {pair_gap:.1f} s")
        if pair_gap < 2.0:
            self.note(f"each sender/room pair sends every {pair_gap:.1f} s: the flood.burst rule (6 in 10 s) may fire")
        self.t0 = mono()
        self.t0_wall = time.time()

        def worker(wid):
            sess = requests.Session()
            while True:
                job = jobs.get()
                if job is None:
                    return
                rec = job
                lag = mono() - (self.t0 + rec["t_sched"])
                if lag > a.max_lag:
                    rec["outcome"] = "skipped_backlog"
                    rec["t_start"] = rec["t_end"] = mono() - self.t0
                    continue
                uid, tok = self.senders[rec["sender"]]
                room = self.rooms[rec["room"]]
                content = {"msgtype": "m.text", "body": rec["body"], "org.tyr.soak": {"i": rec["i"]}}
                url = f"{self.base}/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/soak-{rec['i']}"
                t1 = mono()
                rec["t_start"] = t1 - self.t0
                try:
                    r = sess.put(url, json=content, headers={"Authorization": "Bearer " + tok},
                                 timeout=(3, a.send_timeout))
                    t2 = mono()
                    rec["status"] = r.status_code
                    try:
                        body = r.json()
                    except ValueError:
                        body = {}
                    if r.status_code == 200 and "event_id" in body:
                        rec["outcome"] = "accepted"
                        rec["event_id"] = body["event_id"]
                    elif r.status_code == 403 and body.get("error") == VETO_REFUSAL:
                        rec["outcome"] = "vetoed"
                    else:
                        rec["outcome"] = "error"
                        rec["errcode"] = body.get("errcode")
                        rec["error"] = (body.get("error") or str(body))[:200]
                except requests.ConnectionError as e:
                    t2 = mono()
                    rec["outcome"] = "unreachable"
                    rec["error"] = type(e).__name__
                except requests.Timeout:
                    t2 = mono()
                    rec["outcome"] = "timeout"
                rec["t_end"] = t2 - self.t0
                rec["rtt"] = t2 - t1

        workers = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(a.workers)]
        for w in workers:
            w.start()
        faults = threading.Thread(target=self.fault_plan, daemon=True)
        faults.start()
        ns = len(self.senders)
        for i in range(total):
            if self.stop_all.is_set():
                break
            t_sched = i / a.rate
            j = i % n_pairs
            pool, (body, label, verdict, score) = self.pick()
            rec = {"i": i, "t_sched": t_sched, "sender": j % ns, "room": (j // ns) % len(self.rooms),
                   "pool": pool, "label": label, "verdict": verdict, "score": score, "body": body,
                   "outcome": None}
            self.sends.append(rec)
            delay = self.t0 + t_sched - mono()
            if delay > 0:
                time.sleep(delay)
            jobs.put(rec)
        self.t_load_end = mono() - self.t0
        for _ in workers:
            jobs.put(None)
        for w in workers:
            w.join(a.send_timeout + 10)
        faults.join(max(1.0, a.duration))  # the fault plan ends before the load normally
        for t in self.measurers:
            t.join(160)
        log(f"load done at t={self.rel():.1f} s")

    # -- faults --------------------------------------------------------------------------------

    def at(self, frac_or_s):
        t = frac_or_s * self.a.duration if frac_or_s < 1.0 else frac_or_s
        while self.rel() < t and not self.stop_all.is_set():
            time.sleep(0.1)

    def fault_plan(self):
        a = self.a
        plan = set(x.strip() for x in a.faults.split(",") if x.strip()) if a.faults != "none" else set()
        try:
            if "malformed" in plan:
                self.at(0.12)
                self.malformed("during load (before the crashes)")
            if "kill" in plan:
                self.at(0.22)
                self.fault_kill_tyr()
            if "synapse" in plan:
                self.at(0.45)
                self.fault_stop_synapse()
            if "malformed" in plan:
                self.at(0.90)
                self.malformed("during load (after the crashes)")
        except Exception as e:  # a broken fault plan must not hang the load
            self.note(f"fault plan failed: {type(e).__name__}: {e}")

    def rate_around(self, t, window=10.0):
        """Sends completed per second (any outcome but skipped) in [t-window, t) and [t, t+window)."""
        before = sum(1 for r in self.sends if r.get("t_end") is not None and t - window <= r["t_end"] < t
                     and r["outcome"] not in ("skipped_backlog",))
        after = sum(1 for r in self.sends if r.get("t_end") is not None and t <= r["t_end"] < t + window
                    and r["outcome"] not in ("skipped_backlog",))
        return before / window, after / window

    def fault_kill_tyr(self):
        f = {"fault": "kill -9 Tyr, restart after %.0f s" % self.a.tyr_down, "t": round(self.rel(), 1)}
        self.scrape()  # the dying lifetime's last counters
        pid = self.tyr.pid
        self.tyr.kill9()
        t_kill = self.rel()
        log(f"FAULT: killed Tyr (pid {pid}) with SIGKILL at t={t_kill:.1f} s")
        time.sleep(self.a.tyr_down)
        started = self.start_tyr()
        t_start = self.rel()
        log(f"FAULT: Tyr restarted (pid {self.tyr.pid}) at t={t_start:.1f} s")
        readyz = self.wait_readyz(started, 60)
        down = [round(t_kill, 1), round(t_start, 1)]
        self.tyr_down.append(down)
        f.update({"killed_pid": pid, "restarted_at": round(t_start, 1),
                  "readyz_200_after_restart_s": None if readyz is None else round(readyz, 2),
                  "ready_after_restart_s": None, "result": "waiting for Tyr to answer"})
        self.faults.append(f)

        def measure():
            # In the background, so that the next fault keeps its time: until Tyr answers a
            # command again (the command travels Synapse -> appservice transaction -> Tyr ->
            # outbox -> Synapse), bounded at 150 s.
            ready = self.wait_tyr_ready(started, timeout=150, tag="after-kill")
            down[1] = round(t_start + (ready if ready is not None else 150), 1)
            f["ready_after_restart_s"] = None if ready is None else round(ready, 2)
            f["result"] = "recovered" if ready is not None else "NOT RECOVERED: no answer to !tyr ping within 150 s of the restart"
            log(f"FAULT: Tyr answers again {ready} s after the restart")
        t = threading.Thread(target=measure, daemon=True)
        t.start()
        self.measurers.append(t)

    def fault_stop_synapse(self):
        down = min(60.0, self.a.duration / 3.0)
        f = {"fault": f"Synapse stopped (SIGTERM) for {down:.0f} s", "t": round(self.rel(), 1)}
        t_stop = mono()
        pid = self.synapse.pid
        self.synapse.stop(grace=30, reason="stopped for the outage (SIGTERM)")
        stopped_in = mono() - t_stop
        log(f"FAULT: Synapse (pid {pid}) stopped in {stopped_in:.1f} s at t={self.rel():.1f} s")
        t_tyr_before = self.tyr.alive()
        while mono() < t_stop + down and not self.stop_all.is_set():
            time.sleep(0.2)
        try:
            up = self.start_synapse()
        except Exception as e:
            self.note(f"Synapse did not come back: {e}")
            up = None
        t_back = self.rel()
        self.synapse_down.append((round(t_stop - self.t0, 1), round(t_back, 1)))
        log(f"FAULT: Synapse back at t={t_back:.1f} s (startup {up})")
        f.update({"stopped_pid": pid, "sigterm_exit_s": round(stopped_in, 1), "down_s": round(t_back - (t_stop - self.t0), 1),
                  "synapse_startup_s": None if up is None else round(up, 1),
                  "tyr_alive_through_outage": bool(t_tyr_before and self.tyr.alive()),
                  "tyr_answers_after_s": None, "result": "waiting for Tyr to answer"})
        self.faults.append(f)
        t_up = mono()

        def measure():
            # Tyr must still be there, and answer in the management room again (background:
            # the next fault keeps its time).
            ready = self.wait_tyr_ready(t_up, timeout=150, tag="after-synapse") if self.tyr.alive() else None
            f["tyr_answers_after_s"] = None if ready is None else round(ready, 2)
            f["result"] = "recovered" if ready is not None else "NOT RECOVERED: no answer to !tyr ping within 150 s"
            log(f"FAULT: Tyr answers {ready} s after Synapse came back")
        t = threading.Thread(target=measure, daemon=True)
        t.start()
        self.measurers.append(t)

    def malformed(self, phase):
        """Malformed and oversized requests straight at each Tyr listener. Each must get a 4xx;
        the appservice and veto listeners must answer JSON with an errcode (the admin listener
        answers text/plain by design: docs/metrics.md)."""
        ap, vp, mp = self.ports["appservice"], self.ports["veto"], self.ports["admin"]
        tok = {"Authorization": "Bearer " + self.hs_token}
        sec = {"Authorization": "Bearer " + self.veto_secret}
        js = {"Content-Type": "application/json"}
        big_as = b'{"events":[' + b'{"type":"m.room.message","content":{"body":"' + b"x" * (17 * 1024 * 1024) + b'"}}]}'
        big_veto = b'{"event":{"body":"' + b"x" * (2 * 1024 * 1024) + b'"}}'
        ev = json.dumps({"event": {"event_id": "$x", "room_id": "!r:localhost", "sender": "@s:localhost",
                                   "type": "m.room.message", "content": {"body": "hi"}}}).encode()
        txn = "/_matrix/app/v1/transactions/soak-bad-%d" % random.randrange(10**9)
        cases = [
            ("appservice", ap, "no token", "PUT", txn, js, b'{"events":[]}', False, None, (401,), True),
            ("appservice", ap, "wrong hs_token", "PUT", txn, {**js, "Authorization": "Bearer wrong"}, b'{"events":[]}', False, None, (403,), True),
            ("appservice", ap, "token in query, wrong", "PUT", txn + "?access_token=wrong", js, b'{"events":[]}', False, None, (403, 401), True),
            ("appservice", ap, "bad JSON", "PUT", txn, {**js, **tok}, b'{"events": [', False, None, (400,), True),
            ("appservice", ap, "events not an array", "PUT", txn, {**js, **tok}, b'{"events": 5}', False, None, (400,), True),
            ("appservice", ap, "JSON array body", "PUT", txn, {**js, **tok}, b'[1,2]', False, None, (400,), True),
            ("appservice", ap, "entries without event_id (documented: skipped, 200)", "PUT", txn + "-noid", {**js, **tok},
             b'{"events":[{"type":"m.room.message"},{"type":5,"event_id":7},"x"]}', False, None, (200,), True),
            ("appservice", ap, "deeply nested JSON", "PUT", txn + "-deep", {**js, **tok},
             b'{"events":' + b'[' * 100000 + b']' * 100000 + b'}', False, None, (200, 400), True),
            ("appservice", ap, "oversized body (17 MiB > 16 MiB)", "PUT", txn, {**js, **tok}, big_as, False, None, (413,), True),
            ("appservice", ap, "chunked body (counted against the limit)", "PUT", txn + "-chunked", {**js, **tok}, b'{"events":[]}', True, None, (200,), True),
            ("appservice", ap, "chunked body over 16 MiB", "PUT", txn, {**js, **tok}, big_as, True, None, (413,), True),
            ("appservice", ap, "chunked body without a token", "PUT", txn, js, big_as, True, None, (401,), True),
            ("appservice", ap, "GET on a transaction", "GET", txn, tok, b"", False, None, (405, 404), True),
            ("appservice", ap, "junk path", "GET", "/../../etc/passwd", tok, b"", False, None, (404, 400), True),
            ("appservice", ap, "not HTTP", None, None, None, None, False, b"\x16\x03\x01\x02\x00garbage\r\n\r\n", (400,), False),
            ("veto", vp, "no secret", "POST", "/_tyr/veto/check_event_for_spam", js, ev, False, None, (401,), True),
            ("veto", vp, "wrong secret", "POST", "/_tyr/veto/check_event_for_spam", {**js, "Authorization": "Bearer wrong-secret-0123456789"}, ev, False, None, (403, 401), True),
            ("veto", vp, "bad JSON", "POST", "/_tyr/veto/check_event_for_spam", {**js, **sec}, b'{"event":', False, None, (400,), True),
            ("veto", vp, "deeply nested JSON", "POST", "/_tyr/veto/check_event_for_spam", {**js, **sec},
             b'{"event":' + b'{"a":' * 50000 + b'1' + b'}' * 50000 + b'}', False, None, (400,), True),
            ("veto", vp, "missing fields", "POST", "/_tyr/veto/check_event_for_spam", {**js, **sec}, b'{"event":{}}', False, None, (400,), True),
            ("veto", vp, "oversized body (2 MiB > 1 MiB)", "POST", "/_tyr/veto/check_event_for_spam", {**js, **sec}, big_veto, False, None, (413,), True),
            ("veto", vp, "chunked body (counted against the limit)", "POST", "/_tyr/veto/check_event_for_spam", {**js, **sec}, ev, True, None, (200,), False),
            ("veto", vp, "chunked body over 1 MiB", "POST", "/_tyr/veto/check_event_for_spam", {**js, **sec}, big_veto, True, None, (413,), True),
            ("veto", vp, "GET", "GET", "/_tyr/veto/check_event_for_spam", sec, b"", False, None, (405,), True),
            ("veto", vp, "junk path", "POST", "/nope", {**js, **sec}, ev, False, None, (404,), True),
            ("veto", vp, "not HTTP", None, None, None, None, False, b"\x00\x01\x02 garbage\r\n\r\n", (400,), False),
            ("admin", mp, "junk path", "GET", "/nope", {}, b"", False, None, (404,), False),
            ("admin", mp, "POST /metrics", "POST", "/metrics", {}, b"x", False, None, (405,), False),
            ("admin", mp, "DELETE /healthz", "DELETE", "/healthz", {}, b"", False, None, (405,), False),
            ("admin", mp, "body over 4 KiB", "POST", "/metrics", {}, b"x" * 8192, False, None, (413, 405), False),
            ("admin", mp, "chunked body", "POST", "/readyz", {}, b"x" * 100, True, None, (405,), False),
            ("admin", mp, "chunked body over 4 KiB", "POST", "/readyz", {}, b"x" * 8192, True, None, (413,), False),
            ("admin", mp, "not HTTP", None, None, None, None, False, b"GARBAGE\r\n\r\n", (400,), False),
        ]
        results = []
        t = self.rel()
        for listener, port, what, method, path, headers, body, chunked, raw, want, want_json in cases:
            t1 = mono()
            try:
                status, rh, rbody, note = raw_http(port, method, path, headers, body or b"", chunked, raw)
            except OSError as e:
                status, rh, rbody, note = None, {}, "", f"{type(e).__name__}: {e}"
            errcode = None
            try:
                j = json.loads(rbody)
                errcode = j.get("errcode") if isinstance(j, dict) else None
            except ValueError:
                pass
            if all(400 <= w < 500 for w in want):
                ok = status is not None and 400 <= status < 500 and (errcode is not None or not want_json)
            else:  # a well-formed request that is documented to succeed
                ok = status in want
            results.append({"listener": listener, "request": what, "status": status, "expected": list(want),
                            "errcode": errcode, "content_type": rh.get("content-type"),
                            "body": rbody[:120], "note": note, "ms": round((mono() - t1) * 1000, 1),
                            "ok": ok, "as_expected": status in want})
        # Every listener still answers a well-formed request.
        alive = {}
        try:
            st, _, _, _ = raw_http(ap, "GET", "/_matrix/app/v1/users/%40nobody%3Alocalhost", tok)
            alive["appservice"] = st
        except OSError as e:
            alive["appservice"] = str(e)
        try:
            st, _, _, _ = raw_http(vp, "POST", "/_tyr/veto/ping", {**js, **sec}, b'{"id":"soak"}')
            alive["veto"] = st
        except OSError as e:
            alive["veto"] = str(e)
        try:
            st, _, _, _ = raw_http(mp, "GET", "/healthz", {})
            alive["admin"] = st
        except OSError as e:
            alive["admin"] = str(e)
        f = {"fault": "malformed requests " + phase, "t": round(t, 1), "seconds": round(self.rel() - t, 1),
             "requests": results, "listeners_answer_after": alive,
             "result": "ok" if all(r["ok"] for r in results) else
             "NOT OK: " + ", ".join(f"{r['listener']}/{r['request']}={r['status']}" for r in results if not r["ok"])}
        log(f"FAULT: malformed requests ({phase}): {f['result']}; listeners answer after: {alive}")
        self.faults.append(f)

    # -- drain and verification ----------------------------------------------------------------

    def expected_redactions(self):
        return [r for r in self.sends if r["outcome"] == "accepted" and r["verdict"] == "redact"]

    def drain(self):
        a = self.a
        t = mono()
        deadline = t + a.drain_timeout
        zero_since = None
        status_depth = None
        log("draining")
        last_status = 0.0
        inbox = outbox = None
        while mono() < deadline and not self.stop_all.is_set():
            if not self.tyr.alive():
                self.note("Tyr is not running during the drain")
                break
            s = self.scrape()
            inbox = metric(s, "tyr_inbox_depth") if s else None
            outbox = metric(s, "tyr_outbox_depth") if s else None
            if s is None and mono() - last_status > 5:
                # No metrics: ask `!tyr status` for the queue depths.
                last_status = mono()
                since = mono()
                try:
                    self.say(self.op, self.mgmt_room, "!tyr status")
                    body = self.wait_reply("Queues: inbox", 5, since - 0.5)
                    m = re.search(r"Queues: inbox (\d+), outbox (\d+)", body or "")
                    if m:
                        # The status command is itself in the inbox while it is answered.
                        inbox, outbox = max(0, int(m.group(1)) - 1), int(m.group(2))
                        status_depth = (int(m.group(1)), outbox)
                except Exception:
                    pass
            with self.lock:
                missing = [r for r in self.expected_redactions() if not any(x[1] == BOT for x in self.redactions.get(r["event_id"], []))]
            empty = inbox == 0 and outbox == 0
            if empty and not missing:
                break
            if empty:
                zero_since = zero_since or mono()
                if mono() - zero_since > 20:
                    break  # queues empty for 20 s: what is missing will not come
            else:
                zero_since = None
            time.sleep(1)
        self.drain_s = mono() - t
        self.drain_final = {"inbox": inbox, "outbox": outbox, "via": "metrics" if self.metrics_ok else "!tyr status",
                            "status_depth": status_depth, "drained": inbox == 0 and outbox == 0,
                            "seconds": round(self.drain_s, 1)}
        log(f"drain: {self.drain_final}")

    def room_timeline(self, rid):
        events, frm = [], None
        for _ in range(200):
            params = {"dir": "b", "limit": "1000"}
            if frm:
                params["from"] = frm
            r = retrying("messages", lambda: self.op.req("GET", f"/_matrix/client/v3/rooms/{q(rid)}/messages", params=params, timeout=60))
            events.extend(r.get("chunk", []))
            if not r.get("chunk") or not r.get("end"):
                break
            frm = r["end"]
        return events

    def verify(self):
        res = {}
        timeline = {}
        redactions_by_target = collections.defaultdict(list)
        for rid in self.rooms + [self.mgmt_room]:
            for ev in self.room_timeline(rid):
                timeline[ev["event_id"]] = ev
                if ev.get("type") == "m.room.redaction":
                    tgt = ev.get("redacts") or ev.get("content", {}).get("redacts")
                    redactions_by_target[tgt].append((ev["event_id"], ev.get("sender")))
        accepted = [r for r in self.sends if r["outcome"] == "accepted"]
        missing_in_timeline = [r["event_id"] for r in accepted if r["event_id"] not in timeline]
        by_bot = {t: [x for x in v if x[1] == BOT] for t, v in redactions_by_target.items()}
        doubled = {t: [x[0] for x in v] for t, v in by_bot.items() if len(v) > 1}
        not_redacted, wrongly_redacted = [], []
        for r in accepted:
            red = bool(by_bot.get(r["event_id"]))
            if r["verdict"] == "redact" and not red:
                not_redacted.append(r)
            elif r["verdict"] != "redact" and red:
                wrongly_redacted.append(r)
        ham_vetoed = [r for r in self.sends if r["outcome"] == "vetoed" and r["verdict"] != "redact"]
        # The default rules add flood.burst (+3, 6 messages in 10 s from one sender in one room)
        # and flood.sustained (+9, 10 in 10 s). The schedule keeps each sender/room pair below
        # that, but when Synapse stalls the senders bunch up: such verdicts are the rules at
        # work, not false positives. Counted apart.
        by_pair = collections.defaultdict(list)
        for r in self.sends:
            if r["outcome"] in ("accepted", "vetoed"):
                by_pair[(r["sender"], r["room"])].append(r["t_end"])

        def burst(r):
            ts = by_pair[(r["sender"], r["room"])]
            return sum(1 for t in ts if r["t_end"] - 10.5 <= t <= r["t_end"])
        flood_vetoed = [r for r in ham_vetoed if burst(r) >= 6]
        ham_vetoed = [r for r in ham_vetoed if burst(r) < 6]
        flood_redacted = [r for r in wrongly_redacted if burst(r) >= 6]
        wrongly_redacted = [r for r in wrongly_redacted if burst(r) < 6]
        # Notices: "Acting: redact (score …) for @u in !r, event $e" at most once per event.
        acting = collections.Counter()
        refused = collections.Counter()
        for ev in timeline.values():
            if ev.get("sender") != BOT or ev.get("room_id") != self.mgmt_room or ev.get("type") != "m.room.message":
                continue
            body = ev.get("content", {}).get("body", "")
            m = re.search(r"event (\$\S+?)(?:\s|$)", body.split("\n")[0])
            if body.startswith("Acting:") and m:
                acting[m.group(1)] += 1
            elif body.startswith("Refused before it was stored") and m:
                refused[m.group(1)] += 1
        dup_notices = {e: n for e, n in acting.items() if n > 1}
        dup_refused = {e: n for e, n in refused.items() if n > 1}
        # Accepted sends Tyr noticed as refused (a veto answer that came too late).
        accepted_ids = {r["event_id"] for r in accepted}
        refused_but_stored = [e for e in refused if e in accepted_ids]
        # Synapse's pending appservice transactions: events it has not delivered to Tyr yet.
        # Synapse's unsent appservice transactions (a row stays until Tyr acknowledged it). A
        # transaction in flight is normal for a moment: poll until none is left, up to 20 s.
        pending, pending_events, as_state = None, [], None
        deadline = mono() + 20
        while True:
            try:
                con = sqlite3.connect(f"file:{os.path.join(self.syn_dir, 'homeserver.db')}?mode=ro", uri=True, timeout=10)
                rows = con.execute("SELECT txn_id, event_ids FROM application_services_txns ORDER BY txn_id").fetchall()
                as_state = con.execute("SELECT as_id, state FROM application_services_state").fetchall()
                con.close()
                pending = [r[0] for r in rows]
                pending_events = [e for r in rows for e in json.loads(r[1] or "[]")]
            except Exception as e:
                as_state = str(e)
            if not pending or mono() > deadline:
                break
            time.sleep(2)
        # Every accepted send seen by Tyr: with log_level debug Tyr logs each event it handles
        # ("[bot] event $id m.room.message from …"), across all its lifetimes.
        # Events Tyr found in room history ("… (from history)", catch-up) and events a transaction
        # brought after they were handled ("already handled: $a $b"): found in history and never
        # delivered afterwards = lost by Synapse and recovered by Tyr.
        seen_by_tyr = None
        from_history, delivered_later = set(), set()
        if self.a.tyr_log_level == "debug":
            seen_by_tyr = set()
            with open(self.tyr.logfile, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = re.search(r"\[bot\] event (\$\S+) ", line)
                    if m:
                        seen_by_tyr.add(m.group(1))
                        if line.rstrip().endswith("(from history)"):
                            from_history.add(m.group(1))
                    m = re.search(r"\[appservice\] transaction \S+: .*\(already handled:([^)]*)\)", line)
                    if m:
                        delivered_later.update(m.group(1).split())
        accepted_ids = {r["event_id"] for r in accepted}
        res["accepted_found_in_history"] = len(from_history & accepted_ids)
        res["accepted_recovered_never_delivered"] = sorted(from_history & accepted_ids - delivered_later)
        unseen = [r for r in accepted if seen_by_tyr is not None and r["event_id"] not in seen_by_tyr]
        res["accepted_not_seen_by_tyr_count"] = None if seen_by_tyr is None else len(unseen)
        res["accepted_not_seen_by_tyr"] = [
            {"i": r["i"], "event_id": r["event_id"], "t_start": round(r["t_start"], 1), "pool": r["pool"],
             "in_unsent_synapse_txn": r["event_id"] in pending_events} for r in unseen][:30]
        res["synapse_unsent_txn_ids"] = pending
        res.update({
            "accepted_sends": len(accepted),
            "accepted_missing_from_timeline": missing_in_timeline[:20],
            "accepted_missing_from_timeline_count": len(missing_in_timeline),
            "expected_redactions": len(self.expected_redactions()),
            "not_redacted": [{"i": r["i"], "event_id": r["event_id"], "score": r["score"], "t_start": round(r["t_start"], 1),
                              "body": r["body"][:80]} for r in not_redacted][:30],
            "not_redacted_count": len(not_redacted),
            "wrongly_redacted": [{"i": r["i"], "event_id": r["event_id"], "label": r["label"], "verdict": r["verdict"],
                                  "body": r["body"][:80]} for r in wrongly_redacted][:30],
            "wrongly_redacted_count": len(wrongly_redacted),
            "not_flagged_vetoed": [{"i": r["i"], "label": r["label"], "verdict": r["verdict"], "score": r["score"],
                                    "body": r["body"][:80]} for r in ham_vetoed][:30],
            "not_flagged_vetoed_count": len(ham_vetoed),
            "flood_rule_vetoed_count": len(flood_vetoed),
            "flood_rule_redacted_count": len(flood_redacted),
            "redactions_by_tyr": sum(len(v) for v in by_bot.values()),
            "redactions_by_others": sum(len(v) for v in redactions_by_target.values()) - sum(len(v) for v in by_bot.values()),
            "doubled_redactions": dict(list(doubled.items())[:20]),
            "doubled_redactions_count": len(doubled),
            "acting_notices": sum(acting.values()),
            "duplicate_acting_notices": dict(list(dup_notices.items())[:20]),
            "duplicate_acting_notices_count": len(dup_notices),
            "refused_notices": sum(refused.values()),
            "duplicate_refused_notices_count": len(dup_refused),
            "refused_notice_for_stored_event": refused_but_stored[:20],
            "refused_notice_for_stored_event_count": len(refused_but_stored),
            "synapse_pending_appservice_txns": None if pending is None else len(pending),
            "synapse_appservice_state": as_state,
        })
        self.timeline = timeline
        return res

    def audit(self):
        """`tyr audit --data DIR --json --limit 0` if this build has it: redactions per event."""
        try:
            p = subprocess.run([self.a.tyr, "audit", "--data", os.path.join(self.dir, "tyr-data"), "--limit", "0", "--json"],
                               capture_output=True, text=True, timeout=120)
        except Exception as e:
            return {"available": False, "error": str(e)}
        if p.returncode != 0:
            return {"available": False, "rc": p.returncode, "stderr": p.stderr.strip()[:300]}
        entries = []
        for line in p.stdout.splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
        kinds = collections.Counter((e.get("action"), e.get("mode"), e.get("outcome")) for e in entries)
        redact_ok = collections.Counter(e.get("event_id") for e in entries
                                        if e.get("action") in ("redact", "redact_event") and e.get("outcome") == "ok" and e.get("event_id"))
        accepted_ids = {r["event_id"] for r in self.sends if r["outcome"] == "accepted"}
        expected = {r["event_id"] for r in self.expected_redactions()}
        refusals = sum(1 for e in entries if e.get("mode") == "veto" and e.get("outcome") == "refused"
                       and e.get("action") == "refuse_event")
        return {"available": True, "entries": len(entries),
                "veto_event_refusals": refusals,
                "vetoed_sends": sum(1 for r in self.sends if r["outcome"] == "vetoed"),
                "by_action_mode_outcome": {"/".join(str(x) for x in k): v for k, v in kinds.most_common()},
                "redact_entries_for_sends": sum(v for e, v in redact_ok.items() if e in accepted_ids),
                "expected_redactions_without_entry": len(expected - set(redact_ok)),
                "events_redacted_twice": {e: v for e, v in redact_ok.items() if v > 1}}

    # -- report --------------------------------------------------------------------------------

    def report(self, verification, audit):
        a = self.a
        sends = self.sends
        oc = collections.Counter(r["outcome"] for r in sends)
        load_s = self.t_load_end or a.duration
        outage = [(s, e) for s, e in self.synapse_down]

        def in_outage(r):
            # The send overlapped the outage (or the 5 s after Synapse answered again).
            t1 = r.get("t_start", r["t_sched"])
            t2 = r.get("t_end", t1) or t1
            return any(t2 >= s - 0.5 and t1 <= e + 5 for s, e in outage)
        completed = [r for r in sends if r["outcome"] in ("accepted", "vetoed")]
        up_window = load_s - sum(min(e + 5, load_s) - s for s, e in outage)
        sched_up = [r for r in sends if not in_outage(r)]
        done_up = [r for r in sched_up if r["outcome"] in ("accepted", "vetoed")]
        vetoed_rtt = [r["rtt"] for r in sends if r["outcome"] == "vetoed"]
        accepted_rtt = [r["rtt"] for r in sends if r["outcome"] == "accepted"]
        # spam -> redaction (appservice path): from the start of the send to the redaction's
        # appearance in the operator's /sync.
        lat, lat_steady, lat_fault = [], [], []
        for r in self.expected_redactions():
            red = [x for x in self.redactions.get(r["event_id"], []) if x[1] == BOT]
            if not red:
                continue
            d = red[0][2] - (self.t0 + r["t_start"])
            r["redacted_after_s"] = round(d, 3)
            lat.append(d)
            t = r["t_start"]
            # Near a fault: the time from the send to its redaction overlaps a Tyr or Synapse
            # outage (or the 10 s after it).
            near_fault = any(t <= e + 10 and t + d >= s for s, e in list(self.tyr_down) + list(self.synapse_down))
            (lat_fault if near_fault else lat_steady).append(d)
        # veto histogram: per Tyr lifetime, last scrape (minus the pre-load baseline for the first).
        h_total, h_any = {}, False
        for idx, s in enumerate(self.lifetime_scrapes):
            if s is None:
                continue
            h = histogram(s, "tyr_veto_duration_seconds", callback="check_event_for_spam")
            if idx == 0 and self.baseline:
                h = hist_sub(h, histogram(self.baseline, "tyr_veto_duration_seconds", callback="check_event_for_spam"))
            if h:
                h_any = True
                h_total = hist_add(h_total, h)
        counters = {}
        for name, labels in [("tyr_vetoes_total", {"callback": "check_event_for_spam"}),
                             ("tyr_events_received_total", {}), ("tyr_events_deduplicated_total", {}),
                             ("tyr_transactions_received_total", {}), ("tyr_transactions_deduplicated_total", {}),
                             ("tyr_events_failed_total", {}), ("tyr_actions_total", {}),
                             ("tyr_appservice_auth_failures_total", {}),
                             ("tyr_transaction_gaps_total", {}), ("tyr_events_recovered_total", {}),
                             ("tyr_notices_suppressed_total", {})]:
            vals = [metric(s, name, **labels) for s in self.lifetime_scrapes if s]
            counters[name] = sum(v for v in vals if v is not None) if any(v is not None for v in vals) else None
        veto_outcomes = collections.Counter()
        action_results = collections.Counter()
        for s in self.lifetime_scrapes:
            if not s:
                continue
            for (n, ls), v in s.items():
                d = dict(ls)
                if n == "tyr_vetoes_total" and d.get("callback") == "check_event_for_spam":
                    veto_outcomes[d.get("outcome")] += v
                elif n == "tyr_actions_total" and v:
                    action_results[f"{d.get('kind')}/{d.get('result')}"] += v
        lifetimes = lambda p: [{"pid": lt["pid"], "cpu_s": round(lt["cpu_s"], 2), "peak_rss_mib": round(lt["hwm_kb"] / 1024, 1),
                                "seconds": round((lt["ended"] or time.time()) - lt["started"], 1), "end": lt["end"],
                                "sigterm_exit_s": lt.get("stop_s")}
                               for lt in p.lifetimes] if p else []
        tyr_lts = lifetimes(self.tyr)
        for f in self.faults:
            if "requests" in f:
                before, after = self.rate_around(f["t"])
                f["send_rate_10s_before"], f["send_rate_10s_after"] = before, after
        reasons = []
        v = verification
        if v["accepted_missing_from_timeline_count"]:
            reasons.append(f"{v['accepted_missing_from_timeline_count']} accepted sends missing from the room timelines")
        if v["not_redacted_count"]:
            reasons.append(f"{v['not_redacted_count']} accepted spam messages that the rules flag were never redacted")
        if v["wrongly_redacted_count"]:
            reasons.append(f"{v['wrongly_redacted_count']} messages the rules do not flag were redacted")
        if v["not_flagged_vetoed_count"]:
            reasons.append(f"{v['not_flagged_vetoed_count']} messages the rules do not flag were refused by the veto")
        if v["doubled_redactions_count"]:
            reasons.append(f"{v['doubled_redactions_count']} events redacted more than once by Tyr")
        if v["duplicate_acting_notices_count"]:
            reasons.append(f"{v['duplicate_acting_notices_count']} events with duplicate 'Acting:' notices")
        if v.get("accepted_not_seen_by_tyr_count"):
            inside = sum(1 for x in v["accepted_not_seen_by_tyr"] if x["in_unsent_synapse_txn"])
            reasons.append(f"{v['accepted_not_seen_by_tyr_count']} accepted messages never reached Tyr "
                           f"({inside} of them sit in a transaction Synapse never sent)")
        # A transaction Synapse never sent is Synapse's loss (docs/soak.md, finding 1); what
        # counts is whether its events reached Tyr anyway (catch-up), checked just above.
        if audit.get("available") and audit.get("events_redacted_twice"):
            reasons.append(f"audit trail: {len(audit['events_redacted_twice'])} events redacted twice")
        if audit.get("available") and audit.get("expected_redactions_without_entry"):
            reasons.append(f"audit trail: {audit['expected_redactions_without_entry']} redactions without an entry")
        if not self.drain_final.get("drained"):
            reasons.append(f"queues not drained after {a.drain_timeout} s: {self.drain_final}")
        for f in self.faults:
            if not str(f.get("result", "")).startswith(("ok", "recovered")):
                reasons.append(f"fault '{f['fault']}': {f['result']}")
        if any("UNEXPECTED" in str(lt["end"]) for lt in tyr_lts):
            reasons.append("Tyr exited unexpectedly")
        held_up = len(done_up) / max(1e-9, up_window)
        if held_up < 0.9 * a.rate:
            reasons.append(f"rate not held: {held_up:.1f}/s completed while Synapse was up, target {a.rate}/s")
        skipped = oc.get("skipped_backlog", 0)
        if skipped:
            reasons.append(f"{skipped} sends skipped because the senders fell more than {a.max_lag} s behind")
        errors_up = [r for r in sched_up if r["outcome"] in ("error", "timeout", "unreachable")]
        if errors_up:
            reasons.append(f"{len(errors_up)} sends failed while Synapse was up "
                           f"({collections.Counter((r['outcome'], r.get('errcode')) for r in errors_up).most_common(3)})")
        # "skipped": nothing left to do (a repeat kick of someone already gone).
        failed_actions = {k: n for k, n in action_results.items() if not k.endswith(("/ok", "/skipped")) and n}
        if failed_actions:
            reasons.append(f"actions given up by Tyr's executor: {failed_actions}")
        if counters.get("tyr_events_failed_total"):
            reasons.append(f"{counters['tyr_events_failed_total']:.0f} events dead-lettered by Tyr")
        summary = {
            "verdict": "PASS" if not reasons else "FAIL",
            "reasons": reasons,
            "config": {"duration_s": a.duration, "rate_target": a.rate, "senders": a.senders, "rooms": a.rooms,
                       "workers": a.workers, "spam_fraction": a.spam_fraction, "flagged_share": a.flagged_share,
                       "rules": self.rules_dir, "reject_threshold": a.reject_threshold, "seed": a.seed,
                       "pools": self.pool_sizes, "faults": a.faults, "scratch": self.dir, "ports": self.ports,
                       "tyr_build": self.tyr_build, "load_average_at_start": self.loadavg_start,
                       "load_average_at_end": os.getloadavg(), "cpus": os.cpu_count()},
            "load": {
                "scheduled": len(sends), "outcomes": dict(oc),
                "held_rate_overall": round(len(completed) / load_s, 2),
                "held_rate_while_synapse_up": round(held_up, 2),
                "accepted": oc.get("accepted", 0), "refused_by_veto": oc.get("vetoed", 0),
                "by_pool": {p: dict(collections.Counter(r["outcome"] for r in sends if r["pool"] == p)) for p in self.pools},
                "errors": dict(collections.Counter(f"{r['outcome']}:{r.get('errcode')}:{(r.get('error') or '')[:60]}"
                                                   for r in sends if r["outcome"] in ("error", "timeout", "unreachable")).most_common(8)),
                "send_rtt_accepted_ms": {"p50": ms(pct(accepted_rtt, 50)), "p99": ms(pct(accepted_rtt, 99)), "n": len(accepted_rtt)},
            },
            "latency": {
                "veto_send_rtt_ms": {"p50": ms(pct(vetoed_rtt, 50)), "p99": ms(pct(vetoed_rtt, 99)), "n": len(vetoed_rtt)},
                "veto_histogram_ms": {"p50": ms(hist_quantile(h_total, 0.5)), "p99": ms(hist_quantile(h_total, 0.99)),
                                      "n": int(h_total.get(math.inf, 0)) if h_any else None,
                                      "available": h_any},
                "spam_to_redaction_ms": {"p50": ms(pct(lat, 50)), "p99": ms(pct(lat, 99)), "max": ms(max(lat) if lat else None), "n": len(lat)},
                "spam_to_redaction_steady_ms": {"p50": ms(pct(lat_steady, 50)), "p99": ms(pct(lat_steady, 99)), "n": len(lat_steady)},
                "spam_to_redaction_near_faults_ms": {"p50": ms(pct(lat_fault, 50)), "p99": ms(pct(lat_fault, 99)), "max": ms(max(lat_fault) if lat_fault else None), "n": len(lat_fault)},
            },
            "tyr": {"lifetimes": tyr_lts, "cpu_s_total": round(sum(x["cpu_s"] for x in tyr_lts), 2),
                    "peak_rss_mib_max": max((x["peak_rss_mib"] for x in tyr_lts), default=None),
                    "first_ready_s": round(self.first_ready_s, 1),
                    "counters_summed_over_lifetimes": counters, "veto_outcomes": dict(veto_outcomes),
                    "actions": dict(action_results),
                    "metrics_endpoint": self.metrics_status,
                    "log_warnings": self.log_summary()},
            "synapse": {"lifetimes": lifetimes(self.synapse)},
            "faults": self.faults,
            "drain": self.drain_final,
            "verification": verification,
            "audit": audit,
            "sync": self.sync_stats,
            "depth_series": self.depth_series,
            "depth_max": {"inbox": max((d[1] or 0 for d in self.depth_series), default=None),
                          "outbox": max((d[2] or 0 for d in self.depth_series), default=None)},
            "notes": self.notes,
        }
        return summary

    def log_summary(self):
        c = collections.Counter()
        for line in log_tail(self.tyr.logfile, 100000, r"\b(WARN|ERROR|warn|error)\b"):
            c[re.sub(r"[0-9a-f]{6,}|\$\S+|![^ :]+:\S+|@\S+|\d+", "#", line.split("] ", 2)[-1])[:140]] += 1
        return dict(c.most_common(12))

    def print_table(self, s):
        L, F = s["load"], s["latency"]
        rows = [
            ("verdict", s["verdict"]),
            ("duration / target rate", f"{s['config']['duration_s']} s / {s['config']['rate_target']} ev/s"),
            ("held rate (overall / Synapse up)", f"{L['held_rate_overall']} / {L['held_rate_while_synapse_up']} ev/s"),
            ("sends scheduled", L["scheduled"]),
            ("accepted / refused by veto", f"{L['accepted']} / {L['refused_by_veto']}"),
            ("other outcomes", ", ".join(f"{k} {v}" for k, v in L["outcomes"].items() if k not in ("accepted", "vetoed")) or "-"),
            ("accepted send RTT p50/p99", f"{L['send_rtt_accepted_ms']['p50']} / {L['send_rtt_accepted_ms']['p99']} ms"),
            ("veto RTT (refused sends) p50/p99", f"{F['veto_send_rtt_ms']['p50']} / {F['veto_send_rtt_ms']['p99']} ms (n={F['veto_send_rtt_ms']['n']})"),
            ("veto histogram p50/p99", f"{F['veto_histogram_ms']['p50']} / {F['veto_histogram_ms']['p99']} ms (n={F['veto_histogram_ms']['n']})"
             if F["veto_histogram_ms"]["available"] else "no /metrics"),
            ("spam->redaction p50/p99 (all)", f"{F['spam_to_redaction_ms']['p50']} / {F['spam_to_redaction_ms']['p99']} ms (n={F['spam_to_redaction_ms']['n']}, max {F['spam_to_redaction_ms']['max']})"),
            ("  steady state", f"{F['spam_to_redaction_steady_ms']['p50']} / {F['spam_to_redaction_steady_ms']['p99']} ms (n={F['spam_to_redaction_steady_ms']['n']})"),
            ("  near faults", f"{F['spam_to_redaction_near_faults_ms']['p50']} / {F['spam_to_redaction_near_faults_ms']['p99']} ms (n={F['spam_to_redaction_near_faults_ms']['n']})"),
        ]
        for lt in s["tyr"]["lifetimes"]:
            rows.append((f"Tyr pid {lt['pid']}", f"{lt['cpu_s']} CPU s, peak RSS {lt['peak_rss_mib']} MiB, {lt['seconds']} s, {lt['end']}"))
        for lt in s["synapse"]["lifetimes"]:
            rows.append((f"Synapse pid {lt['pid']}", f"{lt['cpu_s']} CPU s, peak RSS {lt['peak_rss_mib']} MiB, {lt['seconds']} s, {lt['end']}"))
        for f in s["faults"]:
            rows.append((f"fault @{f['t']} s", f"{f['fault']}: {f['result']}"))
        v = s["verification"]
        counters = s["tyr"]["counters_summed_over_lifetimes"]
        rows += [
            ("redactions by Tyr / expected", f"{v['redactions_by_tyr']} / {v['expected_redactions']}"),
            ("flagged spam never redacted", v["not_redacted_count"]),
            ("unflagged messages redacted / vetoed", f"{v['wrongly_redacted_count']} / {v['not_flagged_vetoed_count']}"
             f" (+ {v['flood_rule_redacted_count']} / {v['flood_rule_vetoed_count']} after a sender burst: flood rules)"),
            ("events redacted twice by Tyr", v["doubled_redactions_count"]),
            ("duplicate Acting notices", v["duplicate_acting_notices_count"]),
            ("accepted messages Tyr never saw", v.get("accepted_not_seen_by_tyr_count")),
            ("Synapse unsent AS txns", f"{v['synapse_pending_appservice_txns']} {v.get('synapse_unsent_txn_ids') or ''}"),
            ("Tyr: txnId gaps / events found in history (metric)",
             f"{counters.get('tyr_transaction_gaps_total')} / {counters.get('tyr_events_recovered_total')}"),
            ("accepted sends found in history / of them never delivered by Synapse",
             f"{v.get('accepted_found_in_history')} / {len(v.get('accepted_recovered_never_delivered') or [])}"),
            ("Tyr: notices held back (summarised)", f"{counters.get('tyr_notices_suppressed_total')}"),
            ("actions failed for good (metrics)", ", ".join(f"{k} {int(n)}" for k, n in s["tyr"]["actions"].items() if not k.endswith(("/ok", "/skipped"))) or "0"),
            ("audit trail", f"{s['audit'].get('entries')} entries: {s['audit'].get('by_action_mode_outcome')}; "
                            f"veto refusals {s['audit'].get('veto_event_refusals')} for {s['audit'].get('vetoed_sends')} vetoed sends"
             if s["audit"].get("available") else "tyr audit unavailable"),
            ("drain", f"{s['drain']['seconds']} s, inbox {s['drain']['inbox']}, outbox {s['drain']['outbox']}"),
        ]
        w = max(len(r[0]) for r in rows)
        print("\n" + "=" * 100)
        for k, val in rows:
            print(f"{k:<{w}}  {val}")
        for r in s["reasons"]:
            print(f"  FAIL: {r}")
        print("=" * 100)

    # -- main ----------------------------------------------------------------------------------

    def run(self):
        deadline = self.a.duration + self.a.drain_timeout + 420
        threading.Thread(target=self.watchdog, args=(deadline,), daemon=True).start()
        self.setup()
        self.load()
        self.drain()
        verification = self.verify()
        for p in (self.tyr, self.synapse):
            p.sample()
        audit = self.audit()
        self.scrape()
        self.tyr.stop(grace=30)
        self.stop_all.set()
        self.synapse.stop(grace=30)
        s = self.report(verification, audit)
        out = os.path.join(self.dir, "soak-summary.json")
        with open(out, "w") as f:
            json.dump(s, f, indent=2, default=str)
        with open(os.path.join(self.dir, "sends.jsonl"), "w") as f:
            for r in self.sends:
                f.write(json.dumps({k: v for k, v in r.items() if k != "body"}) + "\n")
        self.print_table(s)
        log(f"summary: {out}; sends: {os.path.join(self.dir, 'sends.jsonl')}; logs: {self.dir}/tyr.log, {self.syn_dir}/homeserver.log")
        return 0 if s["verdict"] == "PASS" else 1

    def watchdog(self, limit):
        start = mono()
        while mono() - start < limit:
            time.sleep(1)
        log(f"watchdog: the soak exceeded {limit:.0f} s; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    def cleanup(self):
        # A second Ctrl-C (or the one `timeout` forwards) must not cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        self.stop_all.set()
        for p in (self.tyr, self.synapse):
            if p is not None and p.alive():
                log(f"cleanup: stopping {p.name} (pid {p.pid})")
                p.stop(grace=15)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=180, help="load phase, seconds (default 180)")
    ap.add_argument("--rate", type=float, default=20, help="sends per second (default 20)")
    ap.add_argument("--senders", type=int, default=20)
    ap.add_argument("--rooms", type=int, default=5)
    ap.add_argument("--workers", type=int, default=8, help="concurrent sending threads")
    ap.add_argument("--spam-fraction", type=float, default=0.3)
    ap.add_argument("--flagged-share", type=float, default=0.75,
                    help="share of spam drawn from messages the rules flag (redact); the rest is spam they miss")
    ap.add_argument("--reject-threshold", type=float, default=None,
                    help="copy the rules and add thresholds.reject (above redact 6): spam scoring between "
                         "redact and reject is accepted and then redacted through the appservice path")
    ap.add_argument("--faults", default="malformed,kill,synapse", help="comma list of malformed,kill,synapse; or none")
    ap.add_argument("--tyr-down", type=float, default=5.0, help="seconds between kill -9 and the restart")
    ap.add_argument("--drain-timeout", type=float, default=180.0)
    ap.add_argument("--max-lag", type=float, default=10.0, help="skip a send that is this late (s)")
    ap.add_argument("--send-timeout", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="scratch dir (default: a new /tmp/tyr-soak-*)")
    ap.add_argument("--tyr", default=DEFAULT_TYR)
    ap.add_argument("--python", default=DEFAULT_PYTHON, help="Synapse's python")
    ap.add_argument("--rules", default=DEFAULT_RULES)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--tyr-log-level", default="debug", help="debug logs every event and transaction (two lines)")
    a = ap.parse_args()
    soak = Soak(a)

    def on_signal(sig, _frame):
        # The first signal interrupts; any further one (a second Ctrl-C, or the SIGINT that
        # `timeout` forwards) is ignored so that the cleanup runs to its end.
        for s_ in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s_, signal.SIG_IGN)
        raise SystemExit(f"signal {sig}")
    for s_ in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s_, on_signal)
    rc = 2
    try:
        rc = soak.run()
    except (KeyboardInterrupt, SystemExit) as e:
        log(f"interrupted ({e!r}); cleaning up")
        rc = 130
    except Exception as e:
        import traceback
        traceback.print_exc()
        log(f"soak failed: {e}")
        rc = 2
    finally:
        soak.cleanup()
        log(f"scratch dir kept: {soak.dir}")
    sys.exit(rc)


if __name__ == "__main__":
    main()
