#!/usr/bin/env bash
# CI: build the Debian package and check it as a user would get it: its file
# list, modes and conffiles (dpkg-deb -c/-I), lintian, the extracted
# binary's `check` on the shipped config as an unprivileged user (setpriv),
# and systemd-analyze verify on the shipped unit. Needs cargo-deb, dpkg-deb,
# lintian, setpriv and systemd-analyze (.ci/run installs them), and root
# (for setpriv and chown). Under CI=true a missing tool fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "package: $*" >&2
    exit 1
}

for tool in cargo-deb dpkg-deb lintian setpriv systemd-analyze; do
    command -v "$tool" >/dev/null 2>&1 || {
        if [ "${CI:-}" = true ]; then
            fail "$tool is not installed (.ci/run installs it under CI)"
        fi
        echo "skipped: package checks need $tool" >&2
        exit 0
    }
done
[ "$(id -u)" = 0 ] || {
    [ "${CI:-}" = true ] && fail "the package checks need root (setpriv, chown)"
    echo "skipped: package checks need root (setpriv, chown)" >&2
    exit 0
}

cargo deb --locked
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
deb="target/debian/snapkeeper_${version}-1_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "cargo deb did not make $deb"
echo "package: $deb ($(stat -c %s "$deb") bytes)"

# 1. File list and modes: exactly these paths, with these modes and owners.
got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $1, $2, $6 }' | sort)
want=$(sort <<'EOF'
-rw-r----- 0/0 ./etc/snapkeeper/config.yaml
-rwxr-xr-x 0/0 ./usr/bin/snapkeeper
-rw-r--r-- 0/0 ./usr/lib/systemd/system/snapkeeper.service
-rw-r--r-- 0/0 ./usr/lib/sysusers.d/snapkeeper.conf
-rw-r--r-- 0/0 ./usr/share/bash-completion/completions/snapkeeper
-rw-r--r-- 0/0 ./usr/share/doc/snapkeeper/README.md
-rw-r--r-- 0/0 ./usr/share/doc/snapkeeper/changelog.Debian.gz
-rw-r--r-- 0/0 ./usr/share/doc/snapkeeper/copyright
-rw-r--r-- 0/0 ./usr/share/doc/snapkeeper/examples/config.example.yaml
-rw-r--r-- 0/0 ./usr/share/fish/vendor_completions.d/snapkeeper.fish
-rw-r--r-- 0/0 ./usr/share/lintian/overrides/snapkeeper
-rw-r--r-- 0/0 ./usr/share/man/man1/snapkeeper.1.gz
-rw-r--r-- 0/0 ./usr/share/zsh/vendor-completions/_snapkeeper
EOF
)
for doc in docs/*.md; do
    want+=$'\n'"-rw-r--r-- 0/0 ./usr/share/doc/snapkeeper/$doc"
done
want=$(sort <<<"$want")
if [ "$got" != "$want" ]; then
    diff <(echo "$want") <(echo "$got") >&2 || true
    fail "the package's files differ from the expected list (- expected, + in the package)"
fi
echo "package: $(wc -l <<<"$got") files with the expected modes"

# 2. Control data: the conffile, the dependencies, a one-line summary.
conffiles=$(dpkg-deb -f "$deb" >/dev/null && dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
[ "$conffiles" = "/etc/snapkeeper/config.yaml" ] || fail "conffiles is $conffiles"
info=$(dpkg-deb -I "$deb")
grep -q '^ Depends:.*ca-certificates' <<<"$info" || fail "Depends lacks ca-certificates"
grep -q '^ Depends:.*systemd-sysusers' <<<"$info" || fail "Depends lacks a systemd-sysusers provider"
grep -q '^ Description: Scheduled snapshots and retention' <<<"$info" || fail "bad Description"
for script in postinst prerm postrm; do
    grep -q "^ .* $script\$\|^ *[0-9]* bytes, *[0-9]* lines *\* *$script" <<<"$info" \
        || fail "the package has no $script"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst | grep -q 'systemd-sysusers.*snapkeeper.conf' \
    || fail "postinst does not create the user"
echo "package: conffiles, Depends, Description and maintainer scripts as expected"

# 3. lintian: no errors (warnings are printed, not fatal).
lintian --fail-on error --tag-display-limit 0 "$deb" || fail "lintian found errors"
echo "package: lintian found no errors"

# 4. The extracted binary checks the shipped config as the service user would
# read it: a uid that is not root, in the group the postinst gives the files.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
dpkg-deb -x "$deb" "$tmp/root"
bin="$tmp/root/usr/bin/snapkeeper"
conf="$tmp/root/etc/snapkeeper/config.yaml"
uid=61234
as_service() {
    setpriv --reuid=$uid --regid=$uid --clear-groups "$@"
}
# As packed (root:root 0640), the service user cannot read it: what the
# README's old manual install did.
if as_service "$bin" check --config "$conf" >"$tmp/out" 2>&1; then
    fail "an unprivileged user read a root-only config: the test proves nothing"
fi
grep -q 'Permission denied' "$tmp/out" || fail "unexpected failure: $(cat "$tmp/out")"
# As the postinst leaves it: root:snapkeeper, 0750 and 0640.
chown root:$uid "$tmp/root/etc/snapkeeper" "$conf"
chmod 0750 "$tmp/root/etc/snapkeeper"
out=$(as_service "$bin" check --config "$conf") || fail "check as uid $uid failed: $out"
[ "$out" = "ok: 3 accounts, 5 policies" ] || fail "check printed: $out"
echo "package: the extracted binary checks the shipped config as uid $uid: $out"

# 5. systemd-analyze verify on the unit as shipped, ExecStart= pointed at the
# extracted binary (verify wants it to exist), and its man:snapkeeper(1)
# found in the package's man pages when man is installed.
unit_dir="$tmp/unit"
mkdir "$unit_dir"
sed "s|/usr/bin/snapkeeper|$bin|g" "$tmp/root/usr/lib/systemd/system/snapkeeper.service" \
    >"$unit_dir/snapkeeper.service"
man_check=--man=no
if command -v man >/dev/null 2>&1; then
    man_check=--man=yes
    export MANPATH="$tmp/root/usr/share/man"
fi
systemd-analyze verify "$man_check" "$unit_dir/snapkeeper.service" 2>"$tmp/verify" || {
    cat "$tmp/verify" >&2
    fail "systemd-analyze verify failed"
}
if grep -q 'snapkeeper.service:' "$tmp/verify"; then
    cat "$tmp/verify" >&2
    fail "systemd-analyze complained about the unit"
fi
echo "package: systemd-analyze verify $man_check passed"
echo "package: 5 passed, 0 failed"
