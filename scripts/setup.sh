#!/usr/bin/env bash
# Installs everything Tyr needs on Debian 12: the C++ toolchain and libraries from Debian's
# packages, a Python venv (.venv) with a pinned Synapse for the sandbox and the end-to-end
# tests, and a pinned Dendrite (.dendrite/bin) built with Go for the Dendrite end-to-end tests.
# Idempotent: on a ready machine it only checks, in a few seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYNAPSE_VERSION=1.163.2
VENV="$ROOT/.venv"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev libcpp-httplib-dev libre2-dev libhyperscan-dev libsimdjson-dev
  librocksdb-dev nlohmann-json3-dev libyaml-cpp-dev catch2 libssl-dev
  clang-14 libclang-rt-14-dev llvm-14 clang-format-14
  python3 python3-venv python3-dev
  dpkg-dev  # dpkg-shlibdeps: the .deb's dependencies (scripts/package.sh)
  nginx openssl  # the federation e2e fixture: a TLS proxy run as a child process, test certs
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  # Only nginx's binary is wanted (the e2e fixture runs its own instance). Its package would start
  # a system service on port 80: a temporary policy-rc.d (the Debian way to veto service starts
  # during installs) stops that, unless the machine already has one.
  POLICY_RC=/usr/sbin/policy-rc.d
  own_policy_rc=""
  if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# written by tyr scripts/setup.sh while installing nginx\nexit 101\n' |
      $SUDO tee "$POLICY_RC" >/dev/null
    $SUDO chmod 755 "$POLICY_RC"
    own_policy_rc=1
    trap '$SUDO rm -f "$POLICY_RC"' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ -n "$own_policy_rc" ]; then
    $SUDO rm -f "$POLICY_RC"
    trap - EXIT
  fi
  if [[ " ${missing[*]} " == *" nginx "* ]]; then
    # Nor should it start at the next boot. An nginx the admin had before is not ours to touch.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now nginx.service >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null; then
      $SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
    fi
  fi
else
  echo "setup: Debian packages present"
fi

# Synapse in its own venv, from PyPI, pinned. Debian's python3 keeps it independent of pyenv.
# The installed distribution's version is compared, as for the module below: synapse.__version__
# may carry a build suffix and would never equal the pin, reinstalling Synapse on every run.
PY=/usr/bin/python3
if [ -x "$VENV/bin/python" ] &&
   "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('matrix-synapse') != '$SYNAPSE_VERSION')" 2>/dev/null; then
  echo "setup: Synapse $SYNAPSE_VERSION present in $VENV"
else
  echo "setup: creating $VENV with matrix-synapse==$SYNAPSE_VERSION"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION"
  "$VENV/bin/python" -c "import importlib.metadata as m; print('setup: Synapse', m.version('matrix-synapse'))"
fi

# The Synapse module that forwards spam-checker callbacks to Tyr's inline veto, pinned.
ANTISPAM_VERSION=0.5.1
if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('synapse-http-antispam') != '$ANTISPAM_VERSION')" 2>/dev/null; then
  echo "setup: synapse-http-antispam $ANTISPAM_VERSION present"
else
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "synapse-http-antispam==$ANTISPAM_VERSION"
  echo "setup: installed synapse-http-antispam $ANTISPAM_VERSION"
fi

# Dendrite, the second homeserver of the end-to-end tests (docs/homeservers.md), built from the Go
# module proxy into .dendrite/bin, pinned; about 3 minutes the first time, a version check after.
# It needs Go 1.21 or newer (Debian 12's golang-go is 1.19). Without one the build is skipped
# with a warning (the Dendrite tests then fail, naming this script), unless TYR_REQUIRE_DENDRITE=1
# (scripts/test.sh, CI) makes that an error.
DENDRITE_VERSION=0.13.8
DENDRITE_BIN="$ROOT/.dendrite/bin"
DENDRITE_TOOLS=(dendrite generate-config generate-keys create-account)
dendrite_ready() {
  for tool in "${DENDRITE_TOOLS[@]}"; do [ -x "$DENDRITE_BIN/$tool" ] || return 1; done
  [ "$("$DENDRITE_BIN/dendrite" --version 2>/dev/null)" = "$DENDRITE_VERSION" ]
}
if dendrite_ready; then
  echo "setup: Dendrite $DENDRITE_VERSION present in $DENDRITE_BIN"
else
  GO=$(command -v go || true)
  if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
  go_minor=0
  if [ -n "$GO" ]; then
    go_minor=$("$GO" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  fi
  if [ "${go_minor:-0}" -ge 21 ]; then
    echo "setup: building Dendrite $DENDRITE_VERSION into $DENDRITE_BIN (a few minutes)"
    mkdir -p "$DENDRITE_BIN"
    pkgs=()
    for tool in "${DENDRITE_TOOLS[@]}"; do
      pkgs+=("github.com/matrix-org/dendrite/cmd/$tool@v$DENDRITE_VERSION")
    done
    GOBIN="$DENDRITE_BIN" nice "$GO" install "${pkgs[@]}"
    dendrite_ready || { echo "setup: Dendrite build did not give $DENDRITE_VERSION" >&2; exit 1; }
    echo "setup: Dendrite $("$DENDRITE_BIN/dendrite" --version) built"
  elif [ "${TYR_REQUIRE_DENDRITE:-}" = 1 ]; then
    echo "setup: Dendrite needs Go 1.21 or newer to build; found ${GO:-no go}." >&2
    exit 1
  else
    echo "setup: warning: no Go 1.21 or newer; Dendrite not built (its e2e tests will fail)" >&2
  fi
fi
