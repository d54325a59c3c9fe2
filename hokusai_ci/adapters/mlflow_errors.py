"""How MLflow's REST API answers an error, as the client reads it: MLflow's own error (its
`error_code` and message), a success that is not MLflow's JSON (another server at that URL), and
MLflow's "does not exist", told apart from a bare 404 that only says the path is wrong."""

from __future__ import annotations

__all__ = ["MlflowApiError", "NotMlflowJson", "does_not_exist"]


class MlflowApiError(Exception):
    """An answer from MLflow that is an error; `code` is MLflow's error_code when it sent one,
    `body` the JSON object it sent (if any), `attempts` how many requests were made."""

    def __init__(
        self, status: int, code: str | None, message: str, body: object = None, path: str = "", attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.body, self.path, self.attempts = status, code, body, path, attempts


class NotMlflowJson(ValueError):
    """A success answer whose body is not a JSON object: another kind of server at that URL."""

    def __init__(self, status: int, content_type: str, path: str = "") -> None:
        super().__init__(f"HTTP {status} with {content_type} instead of MLflow's JSON")
        self.status, self.content_type, self.path = status, content_type, path


def does_not_exist(exc: MlflowApiError) -> bool:
    """MLflow's own "no such model, version or alias" (RESOURCE_DOES_NOT_EXIST). A 404 without
    MLflow's error body is not that: a wrong path prefix or port, another server, which must not
    read as "not set" or "deleted"."""
    if exc.code == "RESOURCE_DOES_NOT_EXIST":
        return True
    if exc.status == 404 and (exc.code is None or exc.code.startswith("HTTP ")):
        raise NotMlflowJson(404, "no MLflow error", exc.path)
    return False
