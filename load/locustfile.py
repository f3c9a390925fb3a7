"""ALT_LAS load test: `locust -f load/locustfile.py --shape <name> …` (see `make load`).

Users: `CommandUser` (submit and follow commands), `SearchUser` (search and read the archive),
`OpenModelUser` (the open workload model's dispatcher). The shape (`--shape`) decides which
run and how many. At the end of every run the SLOs in `--slo-file` are judged, a report is
written to `--report-dir`, and a headless run exits non-zero if an objective broke.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# `locust -f load/locustfile.py` puts load/ on the path, not the repository that holds it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gevent.event
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from load import slo, target
from load.journeys import CommandUser, SearchUser
from load.open_model import OpenModelUser
from load.recorder import CURRENT, Recorder, WorkerCounts
from load.shapes import PROFILES, Profile

__all__ = ["CommandUser", "OpenModelUser", "Profile", "SearchUser"]


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser  # a group would not take include_in_web_ui
    group.add_argument("--shape", choices=PROFILES, default="steady", help="load shape, by name")
    group.add_argument("--step-users", type=int, default=None, help="users added per step")
    group.add_argument("--step-time", type=float, default=30.0, help="seconds per step")
    group.add_argument("--spike-time", type=float, default=20.0, help="seconds of the spike")
    group.add_argument("--stress-max-users", type=int, default=200, help="stress stops here")
    group.add_argument(
        "--arrival-rate", type=float, default=5.0, help="open model: arrivals/s in total"
    )
    group.add_argument(
        "--open-max-inflight", type=int, default=200, help="open model: journeys at once"
    )
    group.add_argument(
        "--open-late-ms", type=float, default=100.0, help="open model: later than this is late"
    )
    group.add_argument(
        "--open-dispatchers", type=int, default=1, include_in_web_ui=False, help=argparse.SUPPRESS
    )
    group.add_argument(
        "--e2e-timeout", type=float, default=60.0, help="seconds a command may take to archive"
    )
    group.add_argument("--slo-file", default=str(slo.DEFAULT_FILE), help="SLO definitions")
    group.add_argument(
        "--report-dir",
        default="",
        help="report directory (default reports/load/<profile>-<time>)",
    )


WORKER_COUNTS = WorkerCounts()


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        if os.environ.get("LOAD_WORKER_COUNTS_DIR"):
            environment.events.request.add_listener(WORKER_COUNTS.on_request)
        return
    opts = environment.parsed_options
    if opts is not None:
        slo.load(Path(opts.slo_file))  # a bad SLO file fails now, not after the run
    if not environment.host:
        # No --host: the deployment `harness up` described (or HARNESS_GATEWAY_URL).
        environment.host = target.resolve().host


@events.test_start.add_listener
def _test_start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    opts = environment.parsed_options
    if opts is None:
        raise RuntimeError("Locust started the test without parsed options")
    profile = str(opts.shape)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    directory = (
        Path(opts.report_dir) if opts.report_dir else Path("reports/load") / (f"{profile}-{stamp}")
    )
    recorder = Recorder(environment, slo.load(Path(opts.slo_file)), profile, directory)
    CURRENT.append(recorder)
    recorder.start()


class _FinalReports:
    """Workers send their statistics every few seconds, not when they stop: the master waits
    for one report from each worker after the stop before it judges and writes the run."""

    def __init__(self) -> None:
        # Every worker that reported during the run: a stopped worker leaves the runner's
        # client list until it is ready again, but it keeps sending statistics.
        self.known: set[str] = set()
        self.waiting: dict[str, int] = {}
        self.done = gevent.event.Event()

    def expect(self) -> None:
        # Two reports each: the first may have left the worker before its users stopped.
        self.waiting = dict.fromkeys(self.known, 2)
        self.done.clear()
        if not self.waiting:
            self.done.set()

    def on_worker_report(self, client_id: str, **_: Any) -> None:
        self.known.add(client_id)
        if client_id in self.waiting:
            self.waiting[client_id] -= 1
            if self.waiting[client_id] <= 0:
                del self.waiting[client_id]
                if not self.waiting:
                    self.done.set()


FINAL_REPORTS = _FinalReports()
events.worker_report.add_listener(FINAL_REPORTS.on_worker_report)


@events.test_stop.add_listener
def _test_stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or not CURRENT:
        return
    CURRENT[-1].mark_stopped()
    opts = environment.parsed_options
    if opts is not None and opts.headless:
        return  # judged when Locust quits, after the workers' final statistics
    if isinstance(environment.runner, MasterRunner):
        FINAL_REPORTS.expect()
        if not FINAL_REPORTS.done.wait(timeout=15):
            logging.getLogger(__name__).warning(
                "no final statistics from workers %s within 15 s: the report may miss their "
                "last requests",
                sorted(FINAL_REPORTS.waiting),
            )
    CURRENT[-1].stop()


@events.quitting.add_listener
def _quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        WORKER_COUNTS.dump(environment)
        return
    opts = environment.parsed_options
    if CURRENT and opts is not None and opts.headless:
        # A headless master quits after asking its workers for a last report; the run is
        # complete only now.
        CURRENT[-1].stop()
        environment.process_exit_code = CURRENT[-1].exit_code()
