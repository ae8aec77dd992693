#!/usr/bin/env bash
# ctest "package: the .deb installs tyr and its files": builds the .deb from a build directory
# whose tyr target is built (scripts/package.sh --no-build), unpacks it into a scratch root
# without root privileges (dpkg-deb -x), and checks what an operator relies on: the control
# fields and dependencies, the maintainer scripts, only Tyr's own files, the installed binary
# running, the example config passing check-config with the installed rule pack, and the unit.
#
#   bash tests/package_test.sh BUILD_DIR [TYR_BINARY]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath -m "${1:?usage: package_test.sh BUILD_DIR [TYR_BINARY]}")
TYR_BUILT=${2:-$BUILD/cli/tyr}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "-- $*"; }

[ -x "$TYR_BUILT" ] ||
  fail "$TYR_BUILT is not built; the package holds it: cmake --build $BUILD --target tyr"
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found (package dpkg)"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tyr-package-test.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
start=$(date +%s)

step "building the package (scripts/package.sh --no-build)"
deb=$(bash "$ROOT/scripts/package.sh" --no-build "$BUILD" "$SCRATCH/out" 2>"$SCRATCH/cpack.log") || {
  cat "$SCRATCH/cpack.log" >&2
  fail "scripts/package.sh failed (output above)"
}
echo "   $deb ($(du -h "$deb" | cut -f1))"

step "control fields and dependencies (dpkg-deb -I)"
field() { dpkg-deb -f "$deb" "$1"; }
dpkg-deb -I "$deb" >"$SCRATCH/info" || fail "dpkg-deb -I cannot read $deb"
[ "$(field Package)" = tyr ] || fail "Package is '$(field Package)', expected tyr"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[ "$(field Version)" = "$version" ] ||
  fail "Version is '$(field Version)', expected the project's version $version"
[ -n "$(field Maintainer)" ] || fail "no Maintainer field"
[ -n "$(field Description)" ] || fail "no Description field"
depends=$(field Depends)
# adduser for postinst; the rest computed by dpkg-shlibdeps from the binary's libraries.
for dep in adduser libc6 'libstdc++6' libhyperscan libre2 libyaml-cpp libssl libcpp-httplib; do
  grep -Eq "(^|, )${dep//+/\\+}[^,]*" <<<"$depends" ||
    fail "Depends lacks $dep (dpkg-shlibdeps: CPACK_DEBIAN_PACKAGE_SHLIBDEPS): $depends"
done

step "maintainer scripts and conffiles"
dpkg-deb -e "$deb" "$SCRATCH/control"
for script in postinst prerm postrm; do
  [ -x "$SCRATCH/control/$script" ] || fail "the package has no executable $script"
  sh -n "$SCRATCH/control/$script" || fail "$script is not valid sh"
done
grep -q 'adduser .*--system .*tyr' "$SCRATCH/control/postinst" ||
  fail "postinst does not create the tyr system user"
grep -Eq 'systemctl .*(enable|start)|deb-systemd-invoke (start|restart)' \
  "$SCRATCH/control/postinst" && fail "postinst enables or starts tyr; it needs a config first"
grep -qx '/etc/tyr/tyr.yaml.example' "$SCRATCH/control/conffiles" ||
  fail "/etc/tyr/tyr.yaml.example is not a conffile"

step "contents: Tyr's files and nothing else (dpkg-deb -c)"
dpkg-deb -c "$deb" >"$SCRATCH/listing"
# Whoever built it, dpkg must install root's files: the tyr user must not own its own binary.
awk '$2 != "root/root" { print; bad = 1 } END { exit bad }' "$SCRATCH/listing" >&2 ||
  fail "files in the package not owned by root/root (above)"
awk '$1 !~ /^d/ { print $6 }' "$SCRATCH/listing" >"$SCRATCH/files"
while read -r f; do
  case "$f" in
    ./usr/bin/tyr | ./usr/lib/systemd/system/tyr.service | ./etc/tyr/tyr.yaml.example) ;;
    ./usr/share/tyr/rules/*/*.y*ml | ./usr/share/doc/tyr/*.md) ;; # * spans docs/protections/ too
    *tests* | *bench* | *fuzz* | *listener_target*)
      fail "a test or tool is in the package: $f (only the tyr binary is installed)" ;;
    *) fail "unexpected file in the package: $f (see packaging/CMakeLists.txt)" ;;
  esac
done <"$SCRATCH/files"
for rule in "$ROOT"/rules/default/*.yaml; do
  grep -qx "./usr/share/tyr/rules/default/$(basename "$rule")" "$SCRATCH/files" ||
    fail "the default rule file $(basename "$rule") is not in the package"
done
for f in ./usr/bin/tyr ./usr/lib/systemd/system/tyr.service ./etc/tyr/tyr.yaml.example \
  ./usr/share/doc/tyr/install.md ./usr/share/doc/tyr/configuration.md; do
  grep -qx "$f" "$SCRATCH/files" || fail "$f is not in the package"
done

step "unpacking into a scratch root (dpkg-deb -x)"
R=$SCRATCH/root
dpkg-deb -x "$deb" "$R"
tyr=$R/usr/bin/tyr
got=$("$tyr" --version) || fail "the installed usr/bin/tyr --version failed"
[ "$got" = "tyr $version" ] || fail "usr/bin/tyr --version printed '$got', expected 'tyr $version'"
if command -v readelf >/dev/null && readelf -d "$tyr" | grep -q 'R.*PATH'; then
  fail "usr/bin/tyr has an RPATH/RUNPATH (into the build directory?): $(readelf -d "$tyr" | grep PATH)"
fi

step "the example config, moved into the scratch root, passes check-config"
example=$R/etc/tyr/tyr.yaml.example
rules_dir=$(sed -n 's/^  dir: *//p' "$example")
[ "$rules_dir" = /usr/share/tyr/rules/default ] ||
  fail "the example's rules.dir is '$rules_dir', not the installed pack /usr/share/tyr/rules/default"
grep -qx 'data_dir: /var/lib/tyr' "$example" || fail "the example's data_dir is not /var/lib/tyr"
grep -q '^  registration: /etc/tyr/registration.yaml' "$example" ||
  fail "the example's appservice.registration is not /etc/tyr/registration.yaml"
mkdir -p "$SCRATCH/etc"
config=$SCRATCH/etc/tyr.yaml
sed -e "s|/usr/share/tyr/|$R/usr/share/tyr/|g" -e "s|/var/lib/tyr|$SCRATCH/state|g" \
  -e "s|/etc/tyr/|$SCRATCH/etc/|g" "$example" >"$config"
out=$("$tyr" check-config --config "$config" 2>&1) || fail "check-config of the example: $out"
grep -q "does not exist yet" <<<"$out" || fail "check-config did not name the missing registration: $out"
out=$("$tyr" registration --config "$config" 2>&1) || fail "tyr registration: $out"
[ "$(stat -c %a "$SCRATCH/etc/registration.yaml")" = 600 ] || fail "the registration is not 0600"
out=$("$tyr" check-config --config "$config" 2>&1) || fail "check-config with the registration: $out"
grep -q ": OK " <<<"$out" || fail "check-config printed no OK: $out"
out=$("$tyr" rules lint "$R$rules_dir" 2>&1) || fail "the installed rule pack does not load: $out"
echo "   $out"

step "the systemd unit"
unit=$R/usr/lib/systemd/system/tyr.service
grep -qx 'ExecStart=/usr/bin/tyr run --config /etc/tyr/tyr.yaml' "$unit" ||
  fail "tyr.service does not start '/usr/bin/tyr run --config /etc/tyr/tyr.yaml'"
"$tyr" help run | grep -q -- '--config' || fail "'tyr run' (the unit's command) takes no --config"
for key in User=tyr StateDirectory=tyr ProtectSystem=strict NoNewPrivileges=yes \
  CapabilityBoundingSet= Restart=on-failure; do
  grep -qx "$key" "$unit" || fail "tyr.service lacks $key"
done
if command -v systemd-analyze >/dev/null; then
  # ExecStart pointed at the unpacked binary: verify checks that the command exists.
  mkdir -p "$SCRATCH/verify"
  sed "s|/usr/bin/tyr|$tyr|g" "$unit" >"$SCRATCH/verify/tyr.service"
  # Exit status 0 even for unknown keys and values it ignores: any message is a failure.
  msgs=$(cd "$SCRATCH/verify" && systemd-analyze verify ./tyr.service 2>&1) ||
    fail "systemd-analyze verify: $msgs"
  [ -z "$msgs" ] || fail "systemd-analyze verify: $msgs"
else
  echo "   systemd-analyze not installed: the unit is not verified"
fi

echo "PASS: $(basename "$deb") in $(($(date +%s) - start)) s"
