"""What the console offers for the caller's role (api.md "Access and audit").

The console asks the server who it is (`GET /whoami`) and hides the key bindings of what the role may not
do (a screen's `check_action` answers False, so neither the footer nor the palette offers them): a viewer
gets a read-only console, told so once; an operator starts and cancels but changes no schedule. The
server refuses the rest anyway (403 forbidden_role); this only keeps the console from offering it."""

from __future__ import annotations

ROLES = ("viewer", "operator", "admin")

# Console actions (the bindings' action names) and the role each needs; the rest only read.
ACTION_ROLES = {
    "new_job": "operator",
    "add_unit": "operator",
    "start_action": "operator",
    "start_each": "operator",
    "rerun": "operator",
    "cancel": "operator",
    "run_now": "operator",
    "toggle_enabled": "admin",
}


def allows(role: str | None, action: str) -> bool:
    """Whether `role` may take `action`; an unknown role (a server without /whoami) is offered everything."""
    needed = ACTION_ROLES.get(action)
    if needed is None or role not in ROLES:
        return True
    return ROLES.index(role) >= ROLES.index(needed)


def read_only_notice(name: str, role: str) -> str | None:
    """What the console says once about a limited role, or None for the admin."""
    if role == "viewer":
        return f"Read-only: token {name!r} has the viewer role, so no actions are offered"
    if role == "operator":
        return f"Token {name!r} has the operator role: runs and cancels, no schedule changes"
    return None
