"""JSON log lines carrying the command id and correlation id of the work in progress.

The ids live in context variables, so every line logged while a request or message is handled
carries them without being passed around.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

command_id_var: ContextVar[str | None] = ContextVar("command_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


@contextlib.contextmanager
def log_context(
    *, command_id: str | None = None, correlation_id: str | None = None
) -> Iterator[None]:
    """Bind ids to every log line emitted inside the block."""
    tokens = []
    if command_id is not None:
        tokens.append((command_id_var, command_id_var.set(command_id)))
    if correlation_id is not None:
        tokens.append((correlation_id_var, correlation_id_var.set(correlation_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "command_id": command_id_var.get(),
            "correlation_id": correlation_id_var.get(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Called once from a service's entry point."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    # nats-py logs every reconnect attempt at ERROR; our own code reports connection state.
    logging.getLogger("nats").setLevel("CRITICAL")
    # asyncio warns on every TLS connection a server closes (nats-py's protocol returns true
    # from eof_received, which TLS ignores): noise, not a fault.
    logging.getLogger("asyncio").addFilter(_not_tls_eof_noise)


def _not_tls_eof_noise(record: logging.LogRecord) -> bool:
    return "eof_received() has no effect when using ssl" not in record.getMessage()
