#!/usr/bin/env bash
# `make install` as a packager and as a user run it: with PREFIX=/usr into a
# DESTDIR (the /usr/lib layout: systemd unit, sysusers, tmpfiles), and into a
# scratch prefix whose unit then points at the binary installed there, which
# `systemd-analyze verify` checks. systemd-sysusers and systemd-tmpfiles
# apply mqgate's files to a scratch root (tmpfiles only as root: it chowns).
# A second install keeps a changed configuration; uninstall removes the rest.
#   tests/deb/test_install.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.." || exit 2

build=${1:?usage: $0 BUILD_DIR}
# Our own make runs, not jobs of the make that runs this test.
unset MAKEFLAGS MFLAGS MAKELEVEL
fails=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
expect_file() { # PATH MODE
    local mode
    mode=$(stat -c %a "$1" 2>/dev/null)
    [ "$mode" = "$2" ] && ok || bad "$1: mode '${mode:-missing}', want $2"
}
install_into() { # MAKE-ARGS...: make install from $build, quietly
    make --no-print-directory -s install BUILD="$build" "$@" >"$tmp/make.log" 2>&1 \
        && ok || { bad "make install $*"; cat "$tmp/make.log"; }
}

# --- packager: PREFIX=/usr into DESTDIR ---
d=$tmp/destdir
install_into DESTDIR="$d" PREFIX=/usr
expect_file "$d/usr/bin/mqgate" 755
expect_file "$d/usr/lib/systemd/system/mqgate.service" 644
expect_file "$d/usr/lib/sysusers.d/mqgate.conf" 644
expect_file "$d/usr/lib/tmpfiles.d/mqgate.conf" 644
expect_file "$d/etc/mqgate/mqgate.yaml" 640
for f in config/examples/*.yaml; do
    cmp -s "$f" "$d/usr/share/doc/mqgate/examples/$(basename "$f")" && ok || bad "example $f not installed"
done
cmp -s systemd/mqgate.service "$d/usr/lib/systemd/system/mqgate.service" && ok \
    || bad "PREFIX=/usr changed the unit: $(diff systemd/mqgate.service "$d/usr/lib/systemd/system/mqgate.service")"

# sysusers creates the user and group in a scratch root; tmpfiles then makes
# /var/lib/mqgate owned by them.
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$d/etc"
    systemd-sysusers --root="$d" >"$tmp/sysusers.log" 2>&1 && ok || { bad "systemd-sysusers"; cat "$tmp/sysusers.log"; }
    grep -Eq '^mqgate:x:[0-9]+:[0-9]+:mqgate gateway:/var/lib/mqgate:/usr/sbin/nologin$' "$d/etc/passwd" \
        && ok || bad "sysusers: no mqgate user: $(cat "$d/etc/passwd" 2>&1)"
    grep -q '^mqgate:x:' "$d/etc/group" && ok || bad "sysusers: no mqgate group"
    if [ "$(id -u)" = 0 ] && command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --root="$d" --create mqgate.conf >"$tmp/tmpfiles.log" 2>&1 \
            && ok || { bad "systemd-tmpfiles"; cat "$tmp/tmpfiles.log"; }
        uid=$(awk -F: '$1 == "mqgate" { print $3 }' "$d/etc/passwd")
        [ "$(stat -c '%a %u' "$d/var/lib/mqgate" 2>&1)" = "750 $uid" ] && ok \
            || bad "/var/lib/mqgate: $(stat -c '%a %u' "$d/var/lib/mqgate" 2>&1), want 750 $uid"
    fi
fi

# A changed configuration survives a second install.
echo "# changed" >>"$d/etc/mqgate/mqgate.yaml"
install_into DESTDIR="$d" PREFIX=/usr
grep -q '^# changed$' "$d/etc/mqgate/mqgate.yaml" && ok || bad "a second install replaced the configuration"

make --no-print-directory -s uninstall BUILD="$build" DESTDIR="$d" PREFIX=/usr >/dev/null 2>&1
left=$(cd "$d" && find usr -type f | sort)
[ -z "$left" ] && ok || bad "uninstall left: $left"
[ -f "$d/etc/mqgate/mqgate.yaml" ] && ok || bad "uninstall removed the configuration"

# --- user: a prefix of one's own; the unit follows it ---
p=$tmp/prefix
install_into PREFIX="$p" SYSCONFDIR="$p/etc"
unit=$p/lib/systemd/system/mqgate.service
grep -qx "ExecStart=$p/bin/mqgate run -c $p/etc/mqgate/mqgate.yaml" "$unit" && ok \
    || bad "unit does not follow PREFIX: $(grep ExecStart "$unit")"
"$p/bin/mqgate" check -q -c "$p/etc/mqgate/mqgate.yaml" >"$tmp/check.log" 2>&1 && ok \
    || { bad "installed mqgate check on the installed configuration"; cat "$tmp/check.log"; }
if command -v systemd-analyze >/dev/null; then
    # verify only warns (exit 0) about unknown keys and the like: any output fails.
    if systemd-analyze verify "$unit" >"$tmp/verify" 2>&1 && [ ! -s "$tmp/verify" ]; then
        ok
    else
        bad "systemd-analyze verify $unit:"; cat "$tmp/verify"
    fi
fi

echo "install: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
