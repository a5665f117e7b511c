"""The API's error type (every failure a client can cause is one of these, rendered as the envelope), and
the start-up error (a setting the server cannot start with: one line naming the flag, exit status 2)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field

    def envelope(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status, "error": self.error, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


def invalid_parameter(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, field)


class StartupError(Exception):
    """The server cannot start with these settings; the message names the flag or variable and the cause."""
