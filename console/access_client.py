"""The client's calls about access (api.md "Access and audit"): who the token is, and the audit trail."""

from __future__ import annotations

from typing import Any

from console.models import items_of


class AccessCalls:
    """Mixed into RedRunnerClient, whose `_json` and `_params` these use."""

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def _params(**params: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def whoami(self) -> dict[str, str]:
        """The token's name and role ({"name", "role"}): what the caller may do."""
        body = await self._json("GET", "whoami")
        return {"name": str(body.get("name", "")), "role": str(body.get("role", ""))}

    async def list_audit(self, actor: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The audit trail, newest first (admin only)."""
        return list(items_of(await self._json("GET", "audit", params=self._params(actor=actor, limit=limit))))
