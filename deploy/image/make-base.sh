#!/usr/bin/env bash
# Make a stand-in for the Dockerfile's base image (python:3.11-slim-bookworm) with debootstrap, for a machine
# that can reach Debian's packages but no image registry. The result is imported into podman as $1
# (default localhost/redrunner-base:bookworm); pass it to the build as PYTHON_IMAGE.
#
# What it holds: Debian bookworm (minbase) with python3 (3.11) and python3-venv, `python` on PATH as the
# official image has it, and this machine's own extra CA certificates, so that a build behind a
# TLS-intercepting proxy trusts it (pip reads the system bundle; update-ca-certificates runs again
# whenever the build installs ca-certificates).
set -euo pipefail

TAG="${1:-localhost/redrunner-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/redrunner-base.XXXXXX")"
trap 'rm -rf "$ROOTFS"' EXIT

for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "make-base: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS" "$MIRROR" >&2
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >&2
fi
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

tar -C "$ROOTFS" -c . | podman --cgroup-manager=cgroupfs import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$TAG" >&2
echo "$TAG"
