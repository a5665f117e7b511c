"""About the API itself: the OpenAPI document, and the playbooks the data dir offers."""

from __future__ import annotations

from ..openapi import openapi_document
from .base import APIHandler


class OpenAPIHandler(APIHandler):
    route_name = "/openapi.json"

    async def get(self) -> None:
        self.write_json(openapi_document())


class PlaybooksHandler(APIHandler):
    route_name = "/playbooks"

    async def get(self) -> None:
        self.write_json(await self.call(self.state.queries.playbooks, self.query("unit")))


default_handlers = [
    (r"/api/v1/openapi.json", OpenAPIHandler),
    (r"/api/v1/playbooks", PlaybooksHandler),
]
