"""Names, tags and limits of the API: each written once, read by the validation, the OpenAPI document,
the models' column sizes and the console's forms.

A leaf module (nothing but `re`), so the console may import it without the server's dependencies.
"""

from __future__ import annotations

import re

# A Unit's name, and a Schedule's (the same rule: both appear in paths and in playbook file names).
UNIT_NAME_MAX = 63
UNIT_NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{UNIT_NAME_MAX - 1}}}$"
UNIT_NAME = re.compile(UNIT_NAME_PATTERN)
SCHEDULE_NAME_PATTERN = UNIT_NAME_PATTERN
SCHEDULE_NAME = UNIT_NAME

# A Job's tag: a Unit name's characters and `:`, longer.
TAG_MAX = 128
TAG_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{TAG_MAX - 1}}}$"
TAG = re.compile(TAG_PATTERN)

# An action: a playbook file in project/, or its short form (`backup` for backup-<unit>.yml).
ACTION_MAX = 255
ACTION_FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml$"
ACTION_SHORT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ACTION_FILE = re.compile(ACTION_FILE_PATTERN)
ACTION_SHORT = re.compile(ACTION_SHORT_PATTERN)

# An extra variable's name: an Ansible variable name.
EXTRAVAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Limits.
MAX_UNITS = 1000  # Units named in one request
MAX_RETRIES = 10  # retries of one Operation
MAX_RETRY_DELAY = 86400.0  # seconds between attempts
MAX_TIMEOUT = 7 * 86400  # seconds an Operation may be given to run
ID_DIGITS = 18  # ids in paths and queries: at most this many digits
MAX_ID = 10**ID_DIGITS - 1
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 500
EVENT_PAGE_LIMIT_DEFAULT = 500  # events of one GET /operations/{id}/events
EVENT_PAGE_LIMIT_MAX = 5000
