#!/usr/bin/env bash
# Build QEMU 7.2's own qtest programs (libqtest/libqos) from Debian's qemu source package, outside the
# repository, for tests/libqtest and tools/libqtest_run.py. Nothing of QEMU's code is vendored or committed.
#
#   tools/qemu_qtest_build.sh [DIR]      # DIR: $FAKEQEMU_QTEST_DIR, else /var/cache/fakeqemu-qtest
#
# Result (cached: a second run with the same source package does nothing):
#   DIR/src/build/tests/qtest/PROG       the seven programs below
#   DIR/modules/                         Debian's QEMU modules plus the accel-qtest module rebuilt from the
#                                        same source with Debian's version string (its module stamp matches),
#                                        so `QEMU_MODULE_DIR=DIR/modules qemu-system-x86_64 -accel qtest` works
# Needs root for apt-get (a deb-src entry is added next to the machine's deb entries). About 3-5 minutes
# on 2 cores the first time (872 ninja steps), ~400 MB of disk.
set -euo pipefail
DIR=${1:-${FAKEQEMU_QTEST_DIR:-/var/cache/fakeqemu-qtest}}
PROGS="qmp-test qmp-cmd-test device-plug-test drive_del-test qom-test device-introspect-test qos-test"
PKGVERSION=$(dpkg-query -W -f '${Version}' qemu-system-x86)          # 1:7.2+dfsg-7+deb12u18+b3
SRCVERSION=$(dpkg-query -W -f '${source:Version}' qemu-system-x86)   # 1:7.2+dfsg-7+deb12u18
STAMP="$DIR/.built-$PKGVERSION"
if [ -e "$STAMP" ]; then
    echo "qtest programs of QEMU $PKGVERSION already built in $DIR"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
    for f in /etc/apt/sources.list.d/*.sources; do
        sed 's/^Types: deb$/Types: deb-src/' "$f" >"/etc/apt/sources.list.d/fakeqemu-src-$(basename "$f")"
    done
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends dpkg-dev meson ninja-build libglib2.0-dev libpixman-1-dev \
    zlib1g-dev libfdt-dev flex bison libspice-server-dev python3-venv >/dev/null
mkdir -p "$DIR"
cd "$DIR"
rm -rf src ./*.dsc ./*.tar.* modules
apt-get source --download-only "qemu=$SRCVERSION" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
dpkg-source --no-check -x ./qemu_*.dsc src >/dev/null
mkdir -p src/build
cd src/build
# the configure line of shared/notes/peers-here.md, with modules on and Debian's version string, so the
# same build gives the qtest programs and a loadable accel-qtest module (stamp: version + pkgversion)
../configure --target-list=x86_64-softmmu --disable-docs --without-default-features --disable-werror \
    --enable-vnc --enable-spice --enable-replication --enable-modules \
    --with-pkgversion="Debian $PKGVERSION" >configure.log 2>&1 || { tail -30 configure.log; exit 1; }
targets="accel-qtest-x86_64.so"
for p in $PROGS; do targets="$targets tests/qtest/$p"; done
# shellcheck disable=SC2086
nice ninja -j"$(nproc)" $targets >ninja.log 2>&1 || { tail -30 ninja.log; exit 1; }
mkdir -p "$DIR/modules"
for f in /usr/lib/x86_64-linux-gnu/qemu/*.so; do ln -sf "$f" "$DIR/modules/"; done
cp accel-qtest-x86_64.so "$DIR/modules/"
touch "$STAMP"
echo "built the qtest programs of QEMU $PKGVERSION in $DIR/src/build/tests/qtest"
