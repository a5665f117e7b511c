"""Who am I (GET /whoami: the caller's token name and role, for clients to show only what they may do), and
the audit trail (GET /audit, admin only)."""

from __future__ import annotations

from .base import APIHandler


class WhoAmIHandler(APIHandler):
    route_name = "/whoami"

    async def get(self) -> None:
        caller = self.caller
        assert caller is not None  # check_auth has identified every caller of a non-open route
        self.write_json({"name": caller.name, "role": str(caller.role)})


class AuditHandler(APIHandler):
    route_name = "/audit"

    async def get(self) -> None:
        page = await self.call(
            self.state.audit.listing,
            self.query("actor"),
            self.query("after"),
            self.query_int("limit", 50, 1, 500),
            self.query("cursor"),
        )
        self.write_json(page)


default_handlers = [
    (r"/api/v1/whoami", WhoAmIHandler),
    (r"/api/v1/audit", AuditHandler),
]
