#!/usr/bin/env bash
# The image check: build the Dockerfile with podman and run the container as Kubernetes runs it (read-only
# root filesystem, UID 10001, no capabilities, no new privileges, /tmp a tmpfs, state and backups on volumes,
# the token from a mounted file), then use it as an operator would: /healthz and /readyz, a files backup
# into the backups volume with the in-image CLI, the CLI's tables, and backup-each.yml run inside the
# container. It takes minutes (the build installs ansible-core), so it is `make image-check`, not the suite.
#
#   PYTHON_IMAGE=python:3.11-slim-bookworm deploy/image/check.sh     # a machine that can pull images
#   deploy/image/check.sh                                            # no registry: a debootstrap base
#
# Without PYTHON_IMAGE the base is made by deploy/image/make-base.sh (Debian packages only). podman runs
# with the cgroupfs manager and runc, with explicit ulimits (a sandbox may not allow the defaults).
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG="${IMAGE_TAG:-localhost/redrunner:check}"
NAME="redrunner-check-$$"
UID_IN_IMAGE=10001
ULIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
pm() { podman --cgroup-manager=cgroupfs --runtime=runc "$@"; }
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'IMAGE CHECK FAILED: %s\n' "$*" >&2; exit 1; }

if [ -z "${PYTHON_IMAGE:-}" ]; then
  step "making a base image with debootstrap (no PYTHON_IMAGE given)"
  PYTHON_IMAGE="$(deploy/image/make-base.sh)"
fi

step "building $TAG on $PYTHON_IMAGE"
started=$(date +%s)
pm build --network host "${ULIMITS[@]}" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" -t "$TAG" . >/tmp/"$NAME"-build.log 2>&1 \
  || { tail -30 /tmp/"$NAME"-build.log; fail "the build failed (log: /tmp/$NAME-build.log)"; }
echo "built in $(($(date +%s) - started)) s; $(pm image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/redrunner-check.XXXXXX")"
cleanup() { pm rm -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK"/{state,backups,secrets,app/files/docs}
echo "an upload" >"$WORK/app/files/upload.txt"
echo "a document" >"$WORK/app/files/docs/readme.txt"
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/secrets/token"
chown -R "$UID_IN_IMAGE:$UID_IN_IMAGE" "$WORK"/{state,backups,app,secrets}
chmod 0400 "$WORK/secrets/token"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

step "running it as Kubernetes would (read-only root, UID $UID_IN_IMAGE, no capabilities, token from a file)"
pm run -d --name "$NAME" --network host --read-only --tmpfs /tmp:rw,size=256m --user "$UID_IN_IMAGE:$UID_IN_IMAGE" \
  --group-add "$UID_IN_IMAGE" --cap-drop all --security-opt no-new-privileges "${ULIMITS[@]}" \
  -v "$WORK/state:/var/lib/redrunner" -v "$WORK/backups:/var/backups/redrunner" -v "$WORK/app:/srv/app" \
  -v "$WORK/secrets:/run/secrets/redrunner:ro" \
  -e REDRUNNER_TOKEN_FILE=/run/secrets/redrunner/token -e "REDRUNNER_PORT=$PORT" \
  -e "REDRUNNER_URL=http://127.0.0.1:$PORT" -e REDRUNNER_BACKUP_ROOT=/var/backups/redrunner \
  "$TAG" serve --host 127.0.0.1 >/dev/null

probe() { python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as answer:
        print(answer.status)
except Exception as exc:  # not up yet, or refused
    print(getattr(exc, "code", 0))
PY
}
deadline=$(($(date +%s) + 60))
until [ "$(probe "http://127.0.0.1:$PORT/healthz")" = 200 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { pm logs "$NAME" | tail -20; fail "/healthz did not answer 200 within 60 s"; }
  sleep 0.5
done
echo "/healthz 200, /readyz $(probe "http://127.0.0.1:$PORT/readyz"), /api/v1/jobs without a token $(probe "http://127.0.0.1:$PORT/api/v1/jobs")"
[ "$(probe "http://127.0.0.1:$PORT/api/v1/jobs")" = 401 ] || fail "the API answered without the token"

step "the root filesystem is read-only and the user is $UID_IN_IMAGE"
pm exec "$NAME" sh -c 'id -u; touch /srv/redrunner/components/x 2>/dev/null && echo writable || echo "read-only: ok"'

step "a files backup into the backups volume, with the in-image CLI"
pm exec "$NAME" redrunner each backup --tag backup --units files -e '{"files_path": "/srv/app/files"}' --follow \
  | tail -4 || fail "the files backup did not succeed"
ls "$WORK"/backups/files/*/manifest.json >/dev/null || fail "no sealed backup in the backups volume"
ls -l "$WORK"/backups/files/*/

step "the CLI's tables"
pm exec "$NAME" redrunner jobs
pm exec "$NAME" redrunner job 1 | head -8

step "backup-each.yml inside the container (the token from REDRUNNER_TOKEN_FILE)"
pm exec "$NAME" sh -c 'printf "components:\n  hosts:\n    files:\n      redrunner_component_extravars: {files_path: /srv/app/files}\n" >/tmp/inventory.yml
  exec ansible-playbook -i /tmp/inventory.yml /srv/redrunner/runner_utils/backup-each.yml' | tail -4 \
  || fail "backup-each.yml failed inside the container"
[ "$(find "$WORK"/backups/files -name manifest.json | wc -l)" -ge 2 ] || fail "backup-each.yml sealed no second backup"

step "stopping it (SIGTERM through tini, the graceful shutdown)"
started=$(date +%s)
pm stop -t 25 "$NAME" >/dev/null
echo "stopped in $(($(date +%s) - started)) s; last log line: $(pm logs "$NAME" 2>&1 | tail -1)"
echo
echo "IMAGE CHECK PASSED ($TAG on $PYTHON_IMAGE)"
