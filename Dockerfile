# RedRunner server image. Built elsewhere (no Docker engine on the development machines):
#   docker build -t REGISTRY/redrunner:0.1.0 .
# deploy/README.md says how to run it on Kubernetes.

# Both stages must share one base: the venv's python is a symlink into the base's /usr/local.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/redrunner
WORKDIR /src
# README.md is read by setuptools (pyproject's `readme`), so the build needs it.
COPY pyproject.toml README.md constraints.txt ./
COPY backend/ backend/
COPY console/ console/
# A non-editable install: the runtime stage gets the venv alone, without /src.
# constraints.txt: the exact versions the suite passed with.
RUN /opt/redrunner/bin/pip install --no-cache-dir -c constraints.txt .


FROM ${PYTHON_IMAGE} AS runtime

ARG REDRUNNER_UID=10001

# tini is pid 1: it forwards SIGTERM to the server alone (which gives Operations their grace)
# and reaps the ansible workers that call setsid() and get orphaned on cancel.
# postgresql-client: pg_dump/pg_restore for the bundled components. zstd: the files and postgres
# components compress with it on every core (gzip or pg_dump's own, single-threaded, otherwise). openssh-client: inventories
# that reach hosts over SSH.
# Versions are not pinned: Debian stable only takes security fixes, and an exact pin breaks the
# build at the next one.
# Bookworm's postgresql-client is 15, and pg_dump refuses a newer server: build with
# --build-arg PGDG_CLIENT=17 (the server's major version) to take postgresql-client-17 from the
# PostgreSQL project's apt repository (apt.postgresql.org) instead, added with the script Debian's
# postgresql-common ships for it.
ARG PGDG_CLIENT=""
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini zstd openssh-client \
    && if [ -z "${PGDG_CLIENT}" ]; then \
         apt-get install -y --no-install-recommends postgresql-client; \
       else \
         apt-get install -y --no-install-recommends postgresql-common ca-certificates \
         && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
         && apt-get install -y --no-install-recommends "postgresql-client-${PGDG_CLIENT}"; \
       fi \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid "${REDRUNNER_UID}" redrunner \
    && useradd --system --uid "${REDRUNNER_UID}" --gid "${REDRUNNER_UID}" \
        --home-dir /var/lib/redrunner --no-create-home --shell /usr/sbin/nologin redrunner \
    && mkdir -p /var/lib/redrunner /var/backups/redrunner \
    && chown "${REDRUNNER_UID}:${REDRUNNER_UID}" /var/lib/redrunner /var/backups/redrunner

COPY --from=build /opt/redrunner /opt/redrunner
# Owned by root: the server only reads the data dir; artifacts go to the state dir.
COPY components/ /srv/redrunner/components/
# The backup-each/restore-each plays, so they can run inside the pod (`kubectl exec`) as well as
# from a laptop; ansible-playbook finds their library/ and module_utils/ beside them.
COPY runner_utils/ /srv/redrunner/runner_utils/

# The root filesystem may be read-only (Kubernetes readOnlyRootFilesystem): everything Ansible
# writes goes to HOME (the state dir, a volume), to /tmp (an emptyDir or tmpfs) or, for the
# bundled components, to their backup_root /var/backups/redrunner (a volume). SSH control
# sockets stay on /tmp because sockets cannot be created on some network volumes.
ENV PATH=/opt/redrunner/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/redrunner \
    ANSIBLE_LOCAL_TEMP=/tmp/ansible-local \
    ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/ansible-cp \
    ANSIBLE_RETRY_FILES_ENABLED=false \
    REDRUNNER_PORT=8787 \
    REDRUNNER_DATA_DIR=/srv/redrunner/components \
    REDRUNNER_STATE_DIR=/var/lib/redrunner \
    REDRUNNER_DATABASE_URL=sqlite:////var/lib/redrunner/redrunner.db \
    REDRUNNER_SHUTDOWN_GRACE=20

LABEL org.opencontainers.image.title="redrunner" \
      org.opencontainers.image.description="Ansible playbooks as Operations behind an HTTP and WebSocket API" \
      org.opencontainers.image.licenses="Apache-2.0"

USER ${REDRUNNER_UID}:${REDRUNNER_UID}
WORKDIR /var/lib/redrunner
EXPOSE 8787

# python, not curl: the slim base has no curl. Plain HTTP: an image run with --certfile needs
# its own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('REDRUNNER_PORT', '8787') + '/healthz', timeout=4)"]

# docker stop waits 10 s by default; give it the shutdown grace + 5 s: docker stop -t 25.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "redrunner"]
CMD ["serve", "--host", "0.0.0.0"]
