"""API fuzzing with Schemathesis: every operation of the four services' OpenAPI documents.

The documents come from the deployment under test (`GET /openapi.json` on each service), never
from code, so the same run judges the reference stack or anyone else's. Settings shared by the
pytest suite (scenarios/fuzz) and the command line (`make fuzz`) live in `schemathesis.toml`;
what differs per run (budget, seed) is passed in.

    python -m harness.fuzz [--max-examples N] [--max-time S] [--seed N] [--service NAME ...]

runs the Schemathesis CLI (`st run`, every phase, every check) once per service and prints one
summary: operations tested, test cases run, failures. The exit code is non-zero when any
service had a failure, an error, or a warning that schemathesis.toml makes fatal.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import requests

from harness.errors import HarnessError
from harness.settings import HarnessSettings
from harness.stack.state import StackState, load_state

if TYPE_CHECKING:
    from schemathesis import AuthContext, Case, Config, HookContext
    from schemathesis.auths import AuthStorage
    from schemathesis.hooks import HookDispatcher
    from schemathesis.schemas import APIOperation, BaseSchema

SERVICES = ("gateway", "segmentation", "runner", "archive")
OPENAPI_PATH = "/openapi.json"
LOGIN_PATH = "/api/v1/auth/login"
CONFIG_FILE = "schemathesis.toml"
# Environment variable that points the suite at each service (see harness/stack/state.py).
ENDPOINT_VARIABLES = {name: f"HARNESS_{name.upper()}_URL" for name in SERVICES}


class FuzzError(HarnessError):
    """Fuzzing could not run: no endpoint, no credentials, no schema, or no report."""


def schema_url(state: StackState, service: str) -> str:
    """Where the deployment serves `service`'s OpenAPI document."""
    base = state.endpoints.get(service)
    if not base:
        raise FuzzError(
            f"the deployment exposes no {service} endpoint: set {ENDPOINT_VARIABLES[service]}"
        )
    return base.rstrip("/") + OPENAPI_PATH


def role_for(operation: APIOperation[Any, Any, Any, Any]) -> str:
    """The role a gateway operation is called as: only changing an archived record needs admin."""
    if operation.method.upper() == "PATCH" and operation.path.startswith("/api/v1/archive/"):
        return "admin"
    return "user"


def _needs_auth(operation: APIOperation[Any, Any, Any, Any]) -> bool:
    # Operations that declare a security requirement; login and the JWKS are public.
    raw: Mapping[str, Any] = operation.definition.raw
    security = raw.get("security", operation.schema.raw_schema.get("security", []))
    return bool(security)


class GatewayLogin:
    """Logs in to the gateway as a role; Schemathesis caches the token it returns."""

    def __init__(
        self, base_url: str, credentials: Mapping[str, Mapping[str, str]], timeout_s: float = 10.0
    ) -> None:
        if "user" not in credentials:
            raise FuzzError("no credentials for role 'user': set HARNESS_USER_CREDENTIALS")
        self.login_url = base_url.rstrip("/") + LOGIN_PATH
        self.credentials = credentials
        self.timeout_s = timeout_s

    def role(self, operation: APIOperation[Any, Any, Any, Any]) -> str | None:
        """Who calls `operation`: None when it is public; a user when no admin can be had."""
        if not _needs_auth(operation):
            return None
        wanted = role_for(operation)
        # Without admin credentials an admin-only call is still fuzzed, as a user (a 403).
        return wanted if wanted in self.credentials else "user"

    def token(self, role: str) -> str:
        cred = self.credentials[role]
        resp = requests.post(
            self.login_url,
            json={"username": cred["username"], "password": cred["password"]},
            timeout=self.timeout_s,
        )
        if resp.status_code != 200:
            raise FuzzError(f"login as {role} failed: {resp.status_code} {resp.text[:200]}")
        return str(resp.json()["access_token"])


def register_gateway_auth(
    storage: AuthStorage[Any], base_url: str, credentials: Mapping[str, Mapping[str, str]]
) -> None:
    """Make every secured gateway operation carry a Bearer token of the role it needs.

    `storage` is a schema's own (`schema.auth`, pytest) or Schemathesis' global one (the CLI,
    which loads the schemas itself). Operations without a security requirement get nothing, so
    the other services' runs in the same process are untouched, and Schemathesis' `ignored_auth`
    check still sends its own unauthenticated requests to see them refused.
    """
    login = GatewayLogin(base_url, credentials)

    def token_key(case: Case[Any], context: AuthContext) -> str:
        # Schemathesis caches whatever `get` returns under this key, None included: public
        # operations need a key of their own, or a role's first lookup could cache "no token".
        return login.role(case.operation) or "public"

    class GatewayBearer:
        def get(self, case: Case[Any], context: AuthContext) -> str | None:
            role = login.role(case.operation)
            return None if role is None else login.token(role)

        def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
            case.headers["Authorization"] = f"Bearer {data}"

    # Tokens are cached per role; a 401 on a valid request drops the cache and logs in again.
    storage.auth(cache_by_key=token_key)(GatewayBearer)


def _representable_query(context: HookContext, query: dict[str, Any] | None) -> bool:
    """Whether a generated query would still be what it is once it is a query string.

    A query string holds names and text. Sent by `requests`, an object becomes its keys
    (`tag={"a": …}` goes out as `tag=a`), a scalar for an array parameter a one-item array
    (`tag=false`), and an item of an array of strings its text (`tag=1`): each a valid request,
    for which the service would then be blamed for accepting "invalid" input (ST201).
    """
    arrays = _array_parameters(context.operation) if context.operation is not None else {}
    for name, value in (query or {}).items():
        if isinstance(value, dict):
            return False
        if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
            return False
        if name in arrays and value is not None:
            if not isinstance(value, list):
                return False
            if arrays[name].get("type") == "string" and not all(isinstance(i, str) for i in value):
                return False
    return True


def _array_parameters(operation: APIOperation[Any, Any, Any, Any]) -> dict[str, Mapping[str, Any]]:
    """Query parameters that take an array, with the schema of its items."""
    found: dict[str, Mapping[str, Any]] = {}
    for parameter in operation.definition.raw.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        schema = parameter.get("schema", {})
        for branch in (schema, *schema.get("anyOf", []), *schema.get("oneOf", [])):
            if branch.get("type") == "array":
                found[parameter["name"]] = branch.get("items", {})
    return found


def register_hooks(dispatcher: HookDispatcher) -> None:
    """Hooks every run needs: on one schema (pytest) or on all of them (the CLI)."""
    dispatcher.register_hook_with_name(_representable_query, "filter_query")


def load_config(path: Path, *, max_examples: int | None = None, seed: int | None = None) -> Config:
    """The shared Schemathesis settings, with this run's budget (and seed) on top."""
    from schemathesis import Config

    config = Config.from_path(path) if path.exists() else Config()
    if max_examples is not None:
        config.projects.override.generation.update(max_examples=max_examples)
    if seed is not None:
        config.projects.override.seed = seed
    return config


def load_schema(state: StackState, service: str, config: Config) -> BaseSchema:
    """`service`'s OpenAPI document as the deployment serves it, authenticated for the gateway."""
    import schemathesis

    url = schema_url(state, service)
    try:
        schema = schemathesis.openapi.from_url(url, config=config, timeout=10)
    except Exception as exc:
        raise FuzzError(f"cannot load the {service} OpenAPI document from {url}: {exc}") from exc
    register_hooks(schema.hooks)
    if service == "gateway":
        register_gateway_auth(schema.auth, state.endpoints["gateway"], state.credentials)
    return schema


@dataclass
class RunFigures:
    """What one service's Schemathesis run did, read from its JSON report."""

    service: str
    exit_code: int
    operations_selected: int = 0
    operations_tested: int = 0
    test_cases: int = 0
    failures: int = 0
    errors: int = 0
    failure_codes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def from_report(cls, service: str, exit_code: int, report: Mapping[str, Any]) -> RunFigures:
        operations = report.get("operations") or {}
        cases = report.get("test_cases") or {}
        codes: dict[str, int] = {}
        for group in report.get("failures", []):
            key = f"{group.get('code') or ''} {group['title']}".strip()
            codes[key] = codes.get(key, 0) + int(group["count"])
        return cls(
            service=service,
            exit_code=exit_code,
            operations_selected=int(operations.get("selected", 0)),
            operations_tested=int(operations.get("tested", 0)),
            test_cases=int(cases.get("generated", 0)),
            failures=int(cases.get("unique_failures", 0)),
            errors=sum(int(e["count"]) for e in report.get("errors", [])),
            failure_codes=codes,
            warnings=[
                f"{kind} ({', '.join(labels)})"
                for kind, labels in (report.get("warnings") or {}).items()
                if labels
            ],
            seconds=float(report.get("running_time") or 0.0),
        )

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failures == 0 and self.errors == 0


def run_cli(
    state: StackState, service: str, config_file: Path, report_dir: Path, cli_args: Sequence[str]
) -> RunFigures:
    """`st run` against one service, in this process so the gateway auth hook applies."""
    from schemathesis.cli import schemathesis as st

    report = report_dir / f"{service}.json"
    args = [
        *(["--config-file", str(config_file)] if config_file.exists() else []),
        "run",
        schema_url(state, service),
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *cli_args,
    ]
    started = time.monotonic()
    try:
        code = st.main(args=args, prog_name="st", standalone_mode=False)
    except SystemExit as exc:  # `st run` ends with sys.exit(code)
        code = exc.code
    except click.ClickException as exc:  # a bad option: say so, as `st` would
        exc.show()
        code = exc.exit_code
    exit_code = code if isinstance(code, int) else 1
    if not report.exists():
        return RunFigures(service, exit_code=exit_code or 1, errors=1)
    figures = RunFigures.from_report(service, exit_code, json.loads(report.read_text()))
    figures.seconds = figures.seconds or time.monotonic() - started
    return figures


def format_summary(runs: Sequence[RunFigures], budget: str) -> str:
    lines = [
        "",
        f"API fuzzing summary ({budget})",
        f"  {'service':<13} {'operations':>10} {'test cases':>11} {'failures':>9} {'errors':>7}"
        f" {'seconds':>8}",
    ]
    for r in runs:
        lines.append(
            f"  {r.service:<13} {f'{r.operations_tested}/{r.operations_selected}':>10}"
            f" {r.test_cases:>11} {r.failures:>9} {r.errors:>7} {r.seconds:>8.1f}"
        )
        lines.extend(f"      {count} × {code}" for code, count in sorted(r.failure_codes.items()))
        lines.extend(f"      warning: {w}" for w in r.warnings)
    lines.append(
        f"  {'total':<13} {sum(r.operations_tested for r in runs):>10}"
        f" {sum(r.test_cases for r in runs):>11} {sum(r.failures for r in runs):>9}"
        f" {sum(r.errors for r in runs):>7} {sum(r.seconds for r in runs):>8.1f}"
    )
    verdict = "PASS" if all(r.ok for r in runs) else "FAIL"
    lines.append(f"  {verdict}: the bar is zero failures, zero errors, no failing warning")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.fuzz",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation")
    parser.add_argument("--max-time", type=int, help="seconds per service (repeats until spent)")
    parser.add_argument("--seed", type=int, help="reproduce an earlier run")
    parser.add_argument("--service", action="append", choices=SERVICES, help="default: all four")
    parser.add_argument(
        "--config-file",
        type=Path,
        default=Path(CONFIG_FILE),
        help="when absent, Schemathesis looks for schemathesis.toml in the parent folders",
    )
    parser.add_argument(
        "--report-dir", type=Path, default=Path("reports/fuzz"), help="JSON reports"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from schemathesis.auths import GLOBAL_AUTH_STORAGE
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

    try:
        state = load_state(HarnessSettings())
        services = args.service or [s for s in SERVICES if s in state.endpoints]
        missing = [s for s in SERVICES if s not in state.endpoints]
        if missing:
            print(
                "not fuzzed (no endpoint): "
                + ", ".join(f"{s} (set {ENDPOINT_VARIABLES[s]})" for s in missing),
                file=sys.stderr,
            )
        if "gateway" in services and "admin" not in state.credentials:
            print(
                "no admin credentials: admin-only operations are fuzzed as a user (403);"
                " set HARNESS_ADMIN_CREDENTIALS",
                file=sys.stderr,
            )
        register_hooks(GLOBAL_HOOK_DISPATCHER)
        if "gateway" in services:
            register_gateway_auth(
                GLOBAL_AUTH_STORAGE, state.endpoints["gateway"], state.credentials
            )
        cli_args = ["--max-examples", str(args.max_examples)]
        if args.max_time:
            cli_args += ["--max-time", str(args.max_time)]
        if args.seed is not None:
            cli_args += ["--seed", str(args.seed)]
        runs = [
            run_cli(state, service, args.config_file, args.report_dir, cli_args)
            for service in services
        ]
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    budget = f"{args.max_examples} examples per operation" + (
        f", {args.max_time} s per service" if args.max_time else ""
    )
    print(format_summary(runs, budget))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
