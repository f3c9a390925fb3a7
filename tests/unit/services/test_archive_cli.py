"""`altlas-archive` refuses bad input with a clear message and exit 2, before connecting."""

from __future__ import annotations

import pytest

from reference_services.archive.cli import EXIT_USAGE, main


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens here: a command that got as far as connecting would fail differently.
    monkeypatch.setenv("ALTLAS_DATABASE_URL", "postgresql://nobody:x@127.0.0.1:9/archive")
    monkeypatch.setenv("ALTLAS_OPENSEARCH_URL", "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lifecycle", "run", "--max-size", "5zb"], "not a size"),
        (["lifecycle", "run", "--max-age", "30"], "not a duration"),
        (["lifecycle", "run", "--max-docs", "0"], "max_docs must be at least 1"),
        (["migrate", "run", "--batch-size", "0"], "--batch-size must be 1..10000"),
        (["migrate", "run", "--concurrency", "99"], "--concurrency must be 1..16"),
        (["migrate", "run", "--max-rate", "-5"], "--max-rate must be positive"),
        (["migrate", "cleanup", "--keep", "-1"], "--keep must be 0 or more"),
    ],
)
def test_bad_input_is_refused_before_connecting(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err, f"expected {message!r} in the error, got {err!r}"


def test_missing_settings_say_which(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ALTLAS_DATABASE_URL")
    assert main(["index", "status"]) == EXIT_USAGE
    assert "database_url" in capsys.readouterr().err


def test_an_unknown_subcommand_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["migrate", "sideways"])
    assert exc.value.code == 2
