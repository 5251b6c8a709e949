#!/usr/bin/env bash
# `mqgate passwd` as users run it: -b create and update, -I, -D, the
# password typed twice at a prompt on a pty (no echo, mismatch refused),
# usage errors (exit 2), a missing or malformed file (exit 1, file left
# alone). Each hash written is recomputed with Python's hashlib, so the file
# is checked by code that is not ours. Every wait is bounded.
set -u
MQGATE=${MQGATE:-build/mqgate}
PY=/usr/bin/python3
fails=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }

# expect_exit CODE CMD... : run CMD (bounded), compare its exit code.
expect_exit() {
    local want=$1; shift
    timeout 30 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$?
    if [ "$got" = "$want" ]; then ok; else bad "'$*' exited $got, want $want"; cat "$tmp/err"; fi
}

expect_in() { # FILE TEXT
    if grep -qF -- "$2" "$1"; then ok; else bad "'$2' not in $1:"; head -20 "$1"; fi
}

# verify FILE USER PASSWORD [ITERATIONS]: the user's $7$ entry is
# PBKDF2-HMAC-SHA512 of PASSWORD (and has ITERATIONS when given).
verify() {
    if "$PY" - "$@" <<'PY'
import base64, hashlib, sys
path, user, password = sys.argv[1:4]
want_iter = int(sys.argv[4]) if len(sys.argv) > 4 else None
for line in open(path):
    name, _, rest = line.rstrip("\n").partition(":")
    if name != user:
        continue
    empty, kind, it, salt, digest = rest.split("$")
    assert empty == "" and kind == "7", rest
    assert want_iter is None or int(it) == want_iter, it
    salt = base64.b64decode(salt, validate=True)
    assert len(salt) == 12
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(it))
    sys.exit(0 if base64.b64decode(digest, validate=True) == got else 1)
sys.exit(2)
PY
    then ok; else bad "$2's hash in $1 is not PBKDF2-SHA512 of '$3' ${4:+with $4 iterations}"; fi
}

mode_of() { stat -c %a "$1"; }

pw="$tmp/passwd"

# --- help ---
expect_exit 0 "$MQGATE" passwd --help
expect_in "$tmp/out" "usage: mqgate passwd"
cp "$tmp/out" "$tmp/help1"
expect_exit 0 "$MQGATE" help passwd
cmp -s "$tmp/out" "$tmp/help1" && ok || bad "'help passwd' differs from 'passwd --help'"
expect_exit 0 "$MQGATE" --help
expect_in "$tmp/out" "passwd"

# --- batch: create, add, update, delete ---
expect_exit 0 "$MQGATE" passwd -c -b "$pw" alice 's3cret pass'
[ "$(mode_of "$pw")" = 600 ] && ok || bad "new file mode $(mode_of "$pw"), want 600"
[ "$(wc -l <"$pw")" = 1 ] && ok || bad "new file: $(cat "$pw")"
verify "$pw" alice 's3cret pass' 15000

expect_exit 0 "$MQGATE" passwd -b -I 1000 "$pw" bob '-starts-with-dash'
verify "$pw" bob '-starts-with-dash' 1000
verify "$pw" alice 's3cret pass' 15000

alice_before=$(grep '^alice:' "$pw")
expect_exit 0 "$MQGATE" passwd -b -I 2000 "$pw" bob 'new one'
verify "$pw" bob 'new one' 2000
[ "$(grep '^alice:' "$pw")" = "$alice_before" ] && ok || bad "updating bob changed alice's line"
[ "$(head -1 "$pw" | cut -d: -f1)" = alice ] && ok || bad "order changed: $(cut -d: -f1 "$pw")"

# A hand-made comment and a mosquitto_passwd entry are kept as they are.
# (mosquitto_passwd 2.0 drops comments: add ours after it ran.)
mosquitto_passwd -b "$pw" carol 'from mosquitto' 2>/dev/null && ok || bad "mosquitto_passwd refused our file"
printf '# added by hand\n' >>"$pw"
carol_line=$(grep '^carol:' "$pw")
expect_exit 0 "$MQGATE" passwd -b "$pw" dave d
grep -qx '# added by hand' "$pw" && ok || bad "comment lost: $(cat "$pw")"
[ "$(grep '^carol:' "$pw")" = "$carol_line" ] && ok || bad "carol's line changed"
verify "$pw" carol 'from mosquitto' 101

chmod 640 "$pw"
expect_exit 0 "$MQGATE" passwd -D "$pw" bob
grep -q '^bob:' "$pw" && bad "bob still in the file" || ok
[ "$(mode_of "$pw")" = 640 ] && ok || bad "mode after -D $(mode_of "$pw"), want 640 (kept)"
verify "$pw" alice 's3cret pass'
expect_exit 1 "$MQGATE" passwd -D "$pw" bob
expect_in "$tmp/err" "$pw: error: no user 'bob'"

# -c replaces the file, keeping its mode.
expect_exit 0 "$MQGATE" passwd -c -b "$pw" erin e
[ "$(cut -d: -f1 "$pw")" = erin ] && ok || bad "-c kept other users: $(cut -d: -f1 "$pw")"
[ "$(mode_of "$pw")" = 640 ] && ok || bad "mode after -c $(mode_of "$pw"), want 640"
[ "$(ls "$tmp" | grep -c tmp)" = 0 ] && ok || bad "temporary files left: $(ls "$tmp")"

# --- usage errors: exit 2, file untouched ---
cp "$pw" "$tmp/before"
expect_exit 2 "$MQGATE" passwd
expect_exit 2 "$MQGATE" passwd "$pw"
expect_exit 2 "$MQGATE" passwd -b "$pw" erin
expect_exit 2 "$MQGATE" passwd -b "$pw" erin pw extra
expect_exit 2 "$MQGATE" passwd -D -b "$pw" erin
expect_exit 2 "$MQGATE" passwd -D -c "$pw" erin
expect_exit 2 "$MQGATE" passwd -x "$pw" erin
expect_exit 2 "$MQGATE" passwd -b -I 0 "$pw" erin pw
expect_in "$tmp/err" "-I takes a number of iterations from 1 to"
expect_exit 2 "$MQGATE" passwd -b -I 12abc "$pw" erin pw
expect_exit 2 "$MQGATE" passwd -b -I 1000001 "$pw" erin pw
expect_exit 2 "$MQGATE" passwd -b "$pw" 'a:b' pw
expect_in "$tmp/err" "cannot contain ':'"
expect_exit 2 "$MQGATE" passwd -b "$pw" erin ''
cmp -s "$pw" "$tmp/before" && ok || bad "a usage error changed the file"

# --- runtime errors: exit 1 ---
expect_exit 1 "$MQGATE" passwd -b "$tmp/missing" alice pw
expect_in "$tmp/err" "$tmp/missing: error: cannot open: No such file or directory (-c creates it)"
[ -e "$tmp/missing" ] && bad "a missing file was created without -c" || ok
expect_exit 1 "$MQGATE" passwd -D "$tmp/missing" alice

printf 'frank:$7$100$AAAA$BBBB\nno colon\n' >"$tmp/broken"
cp "$tmp/broken" "$tmp/broken.orig"
expect_exit 1 "$MQGATE" passwd -b "$tmp/broken" alice pw
expect_in "$tmp/err" "$tmp/broken:1: error: the salt is not base64"
expect_in "$tmp/err" "$tmp/broken:2: error: expected USER:HASH"
cmp -s "$tmp/broken" "$tmp/broken.orig" && ok || bad "a malformed file was edited"

# No terminal to prompt on (setsid: no controlling tty), no -b.
expect_exit 1 setsid -w "$MQGATE" passwd "$pw" erin
expect_in "$tmp/err" "no terminal to ask for the password"

# --- prompt mode on a pty ---
# prompt ANSWER1 ANSWER2 ARGS...: run `mqgate passwd ARGS` on a new pty,
# answer each prompt; the transcript goes to $tmp/tty, the exit code is ours.
prompt() {
    "$PY" - "$MQGATE" "$tmp/tty" "$@" <<'PY'
import os, pty, select, sys, time
mqgate, transcript, first, second, *args = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(mqgate, [mqgate, "passwd", *args])
out = b""
def read_until(text, seconds=10):
    global out
    end = time.monotonic() + seconds
    while text not in out:
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True
if read_until(b"Password: "):
    os.write(fd, first.encode() + b"\n")
    # An empty first answer gets no second prompt.
    if read_until(b"Reenter password: "):
        os.write(fd, second.encode() + b"\n")
read_until(b"\0")                        # the rest, until the pty closes
for _ in range(100):                     # 10 s at most
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    status = 9 << 8
open(transcript, "wb").write(out)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
PY
}

prompt 'Typed-Secret 7' 'Typed-Secret 7' "$pw" gina
rc=$?
[ "$rc" = 0 ] && ok || bad "prompt mode exited $rc: $(cat "$tmp/tty")"
verify "$pw" gina 'Typed-Secret 7' 15000
grep -q 'Typed-Secret' "$tmp/tty" && bad "the password was echoed: $(cat "$tmp/tty")" || ok

cp "$pw" "$tmp/before"
prompt 'one' 'two' "$pw" gina
rc=$?
[ "$rc" = 1 ] && ok || bad "mismatched passwords exited $rc, want 1"
expect_in "$tmp/tty" "the passwords do not match"
cmp -s "$pw" "$tmp/before" && ok || bad "mismatched passwords changed the file"

prompt '' '' -c "$tmp/new" hank
rc=$?
[ "$rc" = 1 ] && ok || bad "an empty password exited $rc, want 1"
[ -e "$tmp/new" ] && bad "an empty password created the file" || ok

prompt 'pw' 'pw' -c "$tmp/new" hank
rc=$?
[ "$rc" = 0 ] && ok || bad "prompt -c exited $rc: $(cat "$tmp/tty")"
verify "$tmp/new" hank pw

echo "passwd: $checks checks, $fails failed"
[ "$fails" = 0 ]
