#!/usr/bin/env bash
# Checks one mqgate .deb as `make deb` builds it: the control fields, a
# Depends that covers every library the binary links, the conffile, every file
# where a Debian system expects it, md5sums, the maintainer scripts' syntax,
# the unit file through `systemd-analyze verify`, and lintian (no errors or
# warnings; the remaining info tags are explained below). It unpacks the
# package into a scratch root with `dpkg --root … --unpack` (and dpkg -x) and
# runs the binary from there: directly for the host's architecture, under
# qemu-user (with build/sysroot-ARCH) for a Pi's. The maintainer scripts are
# checked, not run: they create a system user and start the service.
#   tests/deb/test_deb.sh build/deb/mqgate_VERSION_ARCH.deb
set -u
cd "$(dirname "$0")/../.." || exit 2

deb=${1:?usage: $0 FILE.deb}
[ -f "$deb" ] || { echo "no $deb"; exit 1; }
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
fails=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
check() { # DESCRIPTION CMD...: passes when CMD succeeds
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then ok; else bad "$what"; sed 's/^/    /' "$tmp/out" | head -20; fi
}

field() { dpkg-deb -f "$deb" "$1"; }

# --- control fields ---
name=$(basename "$deb" .deb)           # mqgate_VERSION_ARCH
arch=${name##*_}
version=${name#mqgate_}; version=${version%_*}
[ "$(field Package)" = mqgate ] && ok || bad "Package: $(field Package)"
[ "$(field Version)" = "$version" ] && ok || bad "Version: $(field Version), file says $version"
[ "$(field Architecture)" = "$arch" ] && ok || bad "Architecture: $(field Architecture), file says $arch"
for f in Maintainer Installed-Size Section Priority Description; do
    [ -n "$(field "$f")" ] && ok || bad "no $f field"
done
depends=$(field Depends)
case $depends in *"systemd | systemd-standalone-sysusers"*) ok ;; *) bad "Depends lacks sysusers: $depends" ;; esac

# --- contents ---
# dpkg --root --unpack records the package and its conffile in a scratch
# root's own dpkg database. Only a preinst would run (chrooted), and there is
# none. --force-architecture: the scratch root has no architecture of its
# own; --force-depends: nor the libraries. The conffile stays *.dpkg-new
# until configure, which would run postinst (systemd-sysusers and friends):
# not here, so the files are checked in a second root from dpkg -x.
db=$tmp/db
mkdir -p "$db/var/lib/dpkg/info" "$db/var/lib/dpkg/updates"
: >"$db/var/lib/dpkg/status"
check "dpkg --root --unpack" dpkg --root="$db" --force-depends --force-architecture \
    --force-not-root --unpack "$deb"
dpkg --root="$db" -s mqgate >"$tmp/status" 2>&1
grep -q '^Status: install ok unpacked' "$tmp/status" && ok || bad "dpkg status: $(cat "$tmp/status")"
grep -q '^ /etc/mqgate/mqgate.yaml newconffile$' "$tmp/status" && ok \
    || bad "conffile not registered: $(cat "$tmp/status")"
check "unpacked conffile" cmp config/examples/mqgate.yaml "$db/etc/mqgate/mqgate.yaml.dpkg-new"
root=$tmp/root
check "dpkg -x" dpkg -x "$deb" "$root"
mkdir -p "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
[ "$(cat "$tmp/control/conffiles")" = /etc/mqgate/mqgate.yaml ] && ok || bad "conffiles: $(cat "$tmp/control/conffiles")"
check "md5sums" sh -c "cd '$root' && md5sum --quiet -c '$tmp/control/md5sums'"
for s in postinst prerm postrm; do
    [ -x "$tmp/control/$s" ] && ok || bad "$s missing or not executable"
    check "$s: sh -n" sh -n "$tmp/control/$s"
done

expect_file() { # PATH MODE
    local mode
    mode=$(stat -c %a "$root$1" 2>/dev/null)
    [ "$mode" = "$2" ] && ok || bad "$1: mode '${mode:-missing}', want $2"
}
expect_file /usr/bin/mqgate 755
expect_file /lib/systemd/system/mqgate.service 644
expect_file /usr/lib/sysusers.d/mqgate.conf 644
expect_file /usr/lib/tmpfiles.d/mqgate.conf 644
expect_file /etc/mqgate/mqgate.yaml 644      # 0640 root:mqgate comes from postinst (statoverride)
expect_file /usr/share/doc/mqgate/copyright 644
expect_file /usr/share/doc/mqgate/changelog.gz 644
expect_file /usr/share/man/man1/mqgate.1.gz 644
for f in config/examples/*.yaml; do
    check "example $(basename "$f")" cmp "$f" "$root/usr/share/doc/mqgate/examples/$(basename "$f")"
done
check "conffile is config/examples/mqgate.yaml" cmp config/examples/mqgate.yaml "$root/etc/mqgate/mqgate.yaml"
check "unit" cmp systemd/mqgate.service "$root/lib/systemd/system/mqgate.service"
check "sysusers" cmp systemd/mqgate.sysusers "$root/usr/lib/sysusers.d/mqgate.conf"
check "tmpfiles" cmp systemd/mqgate.tmpfiles "$root/usr/lib/tmpfiles.d/mqgate.conf"
grep -q '^ExecStart=/usr/bin/mqgate run -c /etc/mqgate/mqgate.yaml$' "$root/lib/systemd/system/mqgate.service" \
    && ok || bad "ExecStart does not run /usr/bin/mqgate on /etc/mqgate/mqgate.yaml"
unexpected=$(cd "$root" && find . ! -type d | sort | grep -v -x -e ./usr/bin/mqgate \
    -e ./lib/systemd/system/mqgate.service -e ./usr/lib/sysusers.d/mqgate.conf \
    -e ./usr/lib/tmpfiles.d/mqgate.conf -e ./etc/mqgate/mqgate.yaml \
    -e './usr/share/doc/mqgate/[a-z.]*' -e './usr/share/doc/mqgate/examples/[a-z0-9-]*\.yaml' \
    -e ./usr/share/man/man1/mqgate.1.gz)
[ -z "$unexpected" ] && ok || bad "unexpected files: $unexpected"

# --- the binary: right architecture, stripped, every NEEDED library in Depends ---
bin=$root/usr/bin/mqgate
case $arch in
amd64) machine='x86-64' qemu= ;;
arm64) machine='ARM aarch64' qemu=qemu-aarch64 ;;
armhf) machine='ARM, EABI5' qemu=qemu-arm ;;
*) machine='?' qemu= ;;
esac
file -L "$bin" >"$tmp/file"
grep -q "$machine" "$tmp/file" && ok || bad "not an $arch binary: $(cat "$tmp/file")"
grep -q ', stripped' "$tmp/file" && ok || bad "not stripped: $(cat "$tmp/file")"
# The package each library comes from. A library not listed here fails the
# test until it is: a new dependency is worth a look.
package_of() {
    case $1 in
    libc.so.6|libm.so.6|ld-linux-*.so.*) echo libc6 ;;
    libsystemd.so.0) echo libsystemd0 ;;
    libyaml-0.so.2) echo libyaml-0-2 ;;
    libserialport.so.0) echo libserialport0 ;;
    libmodbus.so.5) echo libmodbus5 ;;
    libpaho-mqtt3a*.so.1|libpaho-mqtt3c*.so.1) echo libpaho-mqtt1.3 ;;
    libssl.so.3|libcrypto.so.3) echo libssl3 ;;
    *) echo "?$1" ;;
    esac
}
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] && ok || bad "no NEEDED entries"
for lib in $needed; do
    pkg=$(package_of "$lib")
    if grep -Eq "(^|, )$pkg( \(|,|$)" <<<"$depends"; then ok; else bad "$lib ($pkg) missing from Depends: $depends"; fi
done

# --- it runs from the scratch root ---
if [ -z "$qemu" ]; then
    run=("$bin")
else
    sysroot=$PWD/build/sysroot-$arch
    if command -v "$qemu" >/dev/null && [ -d "$sysroot" ]; then
        run=(env QEMU_LD_PREFIX="$sysroot" "$qemu" "$bin")
    else
        echo "note: no $qemu or $sysroot (make deps CROSS=$arch): not running the $arch binary"
        run=()
    fi
fi
if [ ${#run[@]} -gt 0 ]; then
    "${run[@]}" --version >"$tmp/version" 2>&1
    grep -Eq "^mqgate $version([+]|$)" "$tmp/version" && ok || bad "--version: $(cat "$tmp/version")"
    check "mqgate check on the installed configuration" "${run[@]}" check -q -c "$root/etc/mqgate/mqgate.yaml"
fi
check "man page" sh -c "zcat '$root/usr/share/man/man1/mqgate.1.gz' | grep -q '^\.SH NAME'"

# --- the unit, as installed, with paths moved into the scratch root ---
if command -v systemd-analyze >/dev/null; then
    sed -e "s|/usr/bin/mqgate|$root/usr/bin/mqgate|" -e "s|/etc/mqgate|$root/etc/mqgate|" \
        "$root/lib/systemd/system/mqgate.service" >"$tmp/mqgate.service"
    # verify warns (exit 0) about unknown keys: any output at all fails.
    if systemd-analyze verify "$tmp/mqgate.service" >"$tmp/verify" 2>&1 && [ ! -s "$tmp/verify" ]; then
        ok
    else
        bad "systemd-analyze verify:"; cat "$tmp/verify"
    fi
fi

# --- lintian ---
# One info tag is left on purpose:
#   package-supports-alternative-init-but-no-init.d-script: mqgate is a
#     Type=notify systemd service (sd_notify, watchdog); there is no sysvinit
#     script, and the package is for systemd systems (Raspberry Pi OS, Debian).
if command -v lintian >/dev/null; then
    lintian --fail-on error,warning,info \
        --suppress-tags package-supports-alternative-init-but-no-init.d-script \
        -I "$deb" >"$tmp/lintian" 2>&1
    rc=$?
    grep -v 'running with root privileges' "$tmp/lintian" >"$tmp/lintian.tags"
    if [ "$rc" = 0 ] && [ ! -s "$tmp/lintian.tags" ]; then ok; else bad "lintian:"; cat "$tmp/lintian.tags"; fi
else
    echo "note: lintian not installed (make deps-cross installs it): skipped"
fi

echo "test_deb $(basename "$deb"): $checks checks, $fails failed"
[ "$fails" -eq 0 ]
