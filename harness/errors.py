"""The harness's one base exception and its direct descendants."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class ReadinessTimeout(HarnessError):
    """A component did not become ready before its deadline."""

    def __init__(self, what: str, timeout_s: float, detail: str = "") -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        extra = f": {self.detail}" if self.detail else ""
        return f"timed out after {self.timeout_s:.0f}s waiting for {self.what}{extra}"


class ComponentFailed(HarnessError):
    """A managed process exited while we were waiting for it."""

    def __init__(self, name: str, returncode: int | None, log_tail: str) -> None:
        self.name = name
        self.returncode = returncode
        self.log_tail = log_tail
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"{self.name} exited with code {self.returncode} before it was ready; "
            f"last lines of its log:\n{self.log_tail}"
        )
