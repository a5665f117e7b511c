"""The API's error type: every failure a client can cause is one of these, rendered as the envelope."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field

    def about(self, field: str | None) -> ApiError:
        """The same error naming another field (e.g. the Unit an /actions error is about)."""
        return ApiError(self.status, self.error, self.message, field)

    def envelope(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status, "error": self.error, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


def invalid_parameter(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, field)


def shutting_down() -> ApiError:
    return ApiError(503, "shutting_down", "the server is shutting down and accepts no new operations")
