"""Webhooks: register, list, one, delete, the deliveries of one, and a test delivery (POST /webhooks/{id}/test)."""

from __future__ import annotations

from .base import APIHandler

ID = r"(?P<webhook_id>[^/]+)"


class WebhooksHandler(APIHandler):
    route_name = "/webhooks"

    async def get(self) -> None:
        page = await self.call(self.state.webhooks.listing, self.page_limit(), self.query("cursor"))
        self.write_json(page)

    async def post(self) -> None:
        hook = await self.call(self.state.webhooks.create, self.body_params())
        self.set_header("Location", f"/api/v1/webhooks/{hook['id']}")
        self.write_json(hook, 201)


class WebhookHandler(APIHandler):
    route_name = "/webhooks/{id}"

    async def get(self, webhook_id: str) -> None:
        self.write_json(await self.call(self.state.webhooks.get, self.path_id(webhook_id, "webhook_id")))

    async def delete(self, webhook_id: str) -> None:
        await self.call(self.state.webhooks.delete, self.path_id(webhook_id, "webhook_id"))
        self.set_status(204)
        self.clear_header("Content-Type")
        self.finish()


class DeliveriesHandler(APIHandler):
    route_name = "/webhooks/{id}/deliveries"

    async def get(self, webhook_id: str) -> None:
        page = await self.call(
            self.state.webhooks.deliveries,
            self.path_id(webhook_id, "webhook_id"),
            self.page_limit(),
            self.query("cursor"),
        )
        self.write_json(page)


class WebhookTestHandler(APIHandler):
    route_name = "/webhooks/{id}/test"

    async def post(self, webhook_id: str) -> None:
        delivery = await self.call(self.state.webhooks.test, self.path_id(webhook_id, "webhook_id"))
        self.state.sender.kick()  # sent now, not at the sender's next idle look
        self.set_header("Location", f"/api/v1/webhooks/{delivery['webhook_id']}/deliveries")
        self.write_json(delivery, 202)


default_handlers = [
    (r"/api/v1/webhooks", WebhooksHandler),
    (rf"/api/v1/webhooks/{ID}", WebhookHandler),
    (rf"/api/v1/webhooks/{ID}/deliveries", DeliveriesHandler),
    (rf"/api/v1/webhooks/{ID}/test", WebhookTestHandler),
]
