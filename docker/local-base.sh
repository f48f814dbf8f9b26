#!/usr/bin/env bash
# Make a local stand-in for the Dockerfile's base image (python:3.11-slim-bookworm) when no image
# registry is reachable: a minimal Debian 12 root file system from Debian's mirror, with Debian's
# Python 3.11 and venv, imported into the local engine as IMAGE (default fakeqemu-local-base:bookworm).
#
#   docker/local-base.sh [IMAGE]          # needs root and mmdebstrap (apt-get install -y mmdebstrap)
#   docker build -f docker/Dockerfile --build-arg BASE=fakeqemu-local-base:bookworm -t fakeqemu .
#
# The stand-in is a TEST ARTEFACT, never something to publish: when the host reaches the internet through
# an HTTPS proxy with its own CA, this script copies the host's CA bundle into the stand-in (so pip can
# download wheels during `docker build`) and points pip at it with /etc/pip.conf. The real base image
# (the Dockerfile's default) never gets that CA. Differences from python:3.11-slim: Python is Debian's
# 3.11 in /usr/bin rather than a source build in /usr/local/bin; the Dockerfile only uses `python3`.
#
# Environment: DOCKER (client command, default docker; DOCKER_HOST is honoured), MIRROR (Debian mirror,
# default http://deb.debian.org/debian), FORCE=1 to rebuild although an image with the same recipe exists.
set -euo pipefail

IMAGE="${1:-fakeqemu-local-base:bookworm}"
DOCKER="${DOCKER:-docker}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PACKAGES=python3,python3-venv
HOST_CA=/etc/ssl/certs/ca-certificates.crt

# The recipe's fingerprint: this script, the host CA bundle (if any) and the mirror. An image carrying the
# same fingerprint is reused, so a warm run costs one `docker image inspect`.
recipe="$( { cat "$0"; echo "$MIRROR"; [ -r "$HOST_CA" ] && cat "$HOST_CA"; } | sha256sum | cut -c1-16)"
have="$($DOCKER image inspect -f '{{ index .Config.Labels "fakeqemu.base.recipe" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$have" = "$recipe" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "local-base: $IMAGE is up to date (recipe $recipe)"
    exit 0
fi

command -v mmdebstrap >/dev/null || { echo "local-base: needs mmdebstrap (apt-get install -y mmdebstrap)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

hooks=(
    # pip inside `docker build` must trust the host's proxy CA; stand-in only (see above)
    --customize-hook='if [ -r '"$HOST_CA"' ]; then mkdir -p "$1/etc/ssl/certs" && cp '"$HOST_CA"' "$1/etc/ssl/certs/ca-certificates.crt" && printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"; fi'
    # keep it slim: no docs, manuals, locales or apt lists
    --customize-hook='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*'
)
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    "${hooks[@]}" "$SUITE" "$work/rootfs.tar" "$MIRROR"

$DOCKER import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --change "LABEL fakeqemu.base.recipe=$recipe" \
    --change 'LABEL fakeqemu.base.note="local stand-in for python:3.11-slim-bookworm; test artefact, do not publish"' \
    "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "local-base: built $IMAGE (recipe $recipe, $(du -h "$work/rootfs.tar" | cut -f1) tar)"
