"""The open workload model: commands arrive at a fixed rate, whatever the system's speed.

Locust's users are a closed loop: each waits for its answer before it asks again, so a slow
server quietly lowers the offered load and hides the latency a real user would see. Here one
dispatcher per Locust process schedules arrivals at exact times (`--arrival-rate` in total,
split over the dispatchers); each arrival is a whole journey (submit, then follow to a final
status) run in its own greenlet. Arrivals are booked as `OPEN` statistics:

- "arrival sent on time": started within `--open-late-ms` of its due time (response time =
  lateness);
- "arrival sent late": started later than that (the load generator itself fell behind);
- "arrival dropped": `--open-max-inflight` journeys were already running, so it was not sent;
- "generator loop lag": how late a 10 ms sleep of the dispatcher's process woke — what the
  generator itself could do on time. Late arrivals while it lagged more than `--open-late-ms`
  make the verdict INCONCLUSIVE (the host was busy), not FAIL (`load.slo.evaluate`).

Offered rate = all arrivals / time; achieved = sent / time; the report shows both.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import gevent
from gevent.pool import Pool
from locust import constant, task
from locust.exception import StopUser

from load.journeys import ApiUser, Identity, accounts
from load.slo import ARRIVAL_DROPPED, ARRIVAL_LATE, ARRIVAL_ON_TIME, GENERATOR_LAG, OPEN_TYPE
from load.target import TargetError

# The lag monitor's sleep: short enough to sample the loop often (100 a second), long enough
# to cost nothing.
LAG_PROBE_S = 0.01


class ArrivalNotOnTime(Exception):
    """An arrival that could not be sent when it was due."""


class OpenModelUser(ApiUser):
    """A dispatcher, not a person: the `open` profile starts one per Locust process."""

    weight = 1
    wait_time = constant(0)
    concurrency = 64

    def on_start(self) -> None:
        self.rng = random.Random()
        try:
            pool = accounts()
        except TargetError as exc:
            raise StopUser(str(exc)) from None
        # Arrivals spread over accounts, as many as the rate needs: the gateway rate-limits per
        # account (a journey is about a dozen requests; keep each account under 80 req/s).
        # Logged in at once, so the schedule starts without waiting for a dozen password hashes.
        rate = self._rate()
        needed = min(len(pool), max(1, math.ceil(rate * 12 / 80)))
        logins = [gevent.spawn(self.log_in, account) for account in pool[:needed]]
        gevent.joinall(logins, raise_error=True)
        self.identities = [g.value for g in logins]
        self.identity = self.identities[0]

    def _book(self, name: str, lateness_ms: float, problem: str | None) -> None:
        self.environment.events.request.fire(
            request_type=OPEN_TYPE,
            name=name,
            response_time=lateness_ms,
            response_length=0,
            exception=ArrivalNotOnTime(problem) if problem else None,
            context={},
        )

    def _journey(self, identity: Identity) -> None:
        command_id = self.submit(identity)
        if command_id is not None:
            self.follow(command_id, self.e2e_timeout(), identity)

    def _option(self, name: str, default: Any) -> Any:
        value = getattr(self.environment.parsed_options, name, None)
        return default if value in (None, "") else value

    def _dispatchers(self) -> int:
        return max(1, int(self._option("open_dispatchers", 1)))

    def _rate(self) -> float:
        """This dispatcher's share of `--arrival-rate`."""
        return float(self._option("arrival_rate", 5.0)) / self._dispatchers()

    @staticmethod
    def _schedule(start: float, rate: float, k: int) -> float:
        return start + k / rate

    def _watch_lag(self) -> None:
        """Book how late a short sleep wakes, for as long as the dispatcher runs: what this
        process could do on time (load.slo judges late arrivals against it)."""
        while True:
            before = time.monotonic()
            gevent.sleep(LAG_PROBE_S)  # the probe itself, not a wait for anything
            lag_ms = max(0.0, time.monotonic() - before - LAG_PROBE_S) * 1000.0
            self._book(GENERATOR_LAG, lag_ms, None)

    @task
    def dispatch(self) -> None:
        rate = self._rate()
        max_inflight = max(1, int(self._option("open_max_inflight", 200)) // self._dispatchers())
        late_ms = float(self._option("open_late_ms", 100.0))
        if rate <= 0:
            raise ValueError("--arrival-rate must be above 0")
        journeys = Pool(max_inflight)
        watcher = gevent.spawn(self._watch_lag)
        start = time.monotonic()
        k = 0
        try:
            while True:
                due = self._schedule(start, rate, k)
                k += 1
                delay = due - time.monotonic()
                if delay > 0:
                    gevent.sleep(delay)  # the arrival schedule, not a readiness wait
                lateness = max(0.0, time.monotonic() - due) * 1000.0
                if journeys.full():
                    self._book(
                        ARRIVAL_DROPPED, lateness, f"all {max_inflight} journeys were in flight"
                    )
                    continue
                identity = self.identities[k % len(self.identities)]
                journeys.spawn(self._journey, identity)
                if lateness > late_ms:
                    self._book(ARRIVAL_LATE, lateness, f"sent {lateness:.0f} ms after due")
                else:
                    self._book(ARRIVAL_ON_TIME, lateness, None)
        finally:
            # Journeys are not children of this greenlet: stop them with the dispatcher.
            watcher.kill(block=False)
            journeys.kill(block=False)
