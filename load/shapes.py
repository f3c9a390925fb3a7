"""Load shapes, chosen by name with `--shape` (also a field in the web UI).

All use Locust's own `-u` (users) and `-r` (spawn rate) as their scale, and `-t` as the run
time where they have no end of their own:

- steady: `-u` users until `-t`;
- ramp:   `--step-users` more every `--step-time` seconds up to `-u`, then hold until `-t`;
- spike:  a fifth of `-u` for a step, all `-u` at once (spawn rate = `-u`/s) for
          `--spike-time`, then back to a fifth — does it recover?;
- soak:   `-u` users for a long time (`-t`, e.g. 2h); the report compares the p95 of the first
          and last tenth of the run (leaks, bloat, slow drift);
- stress: `--step-users` more every `--step-time` seconds; each step is judged against the SLO
          and the run stops at the first step that breaks it — the one before is the knee
          (capacity); it also stops at `--stress-max-users`;
- open:   the open workload model (`--arrival-rate`), see `load/open_model.py`.
"""

from __future__ import annotations

import math
from typing import Any

from locust import LoadTestShape, User

from load.analysis import Snapshot
from load.journeys import CommandUser, SearchUser
from load.open_model import OpenModelUser
from load.recorder import CURRENT, snapshot

PROFILES = ("steady", "ramp", "spike", "soak", "stress", "open")
CLOSED_USERS: list[type[User]] = [CommandUser, SearchUser]


class Profile(LoadTestShape):
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._step_start: tuple[int, Snapshot, float] | None = None
        self._stopped = False

    def reset_time(self) -> None:
        super().reset_time()
        self._step_start = None
        self._stopped = False

    def _opt(self, name: str, default: Any) -> Any:
        if self.runner is None:
            raise RuntimeError("a load shape runs only inside a Locust runner")
        value = getattr(self.runner.environment.parsed_options, name, None)
        return default if value in (None, "") else value

    def tick(self) -> tuple[int, float] | tuple[int, float, list[type[User]] | None] | None:
        name = str(self._opt("shape", "steady"))
        users = max(1, int(self._opt("num_users", 10) or 10))
        rate = float(self._opt("spawn_rate", 5) or 5)
        step_users = max(1, int(self._opt("step_users", max(1, users // 5))))
        step_time = float(self._opt("step_time", 30))
        t = self.get_run_time()
        run_time = self._opt("run_time", None)
        if run_time and t >= float(run_time):
            return None
        if name in ("steady", "soak"):
            return users, rate, CLOSED_USERS
        if name == "ramp":
            return min(users, step_users * (1 + int(t // step_time))), rate, CLOSED_USERS
        if name == "spike":
            base = max(1, users // 5)
            spike_time = float(self._opt("spike_time", 20))
            if step_time <= t < step_time + spike_time:
                return users, float(users), CLOSED_USERS
            return base, float(users), CLOSED_USERS
        if name == "stress":
            return self._stress(t, step_users, step_time, rate)
        if name == "open":
            if self.runner is None:
                raise RuntimeError("a load shape runs only inside a Locust runner")
            dispatchers = max(1, int(getattr(self.runner, "worker_count", 1) or 1))
            # Sent to the workers with the spawn message: each dispatcher's share of the rate.
            options = self.runner.environment.parsed_options
            if options is not None:
                options.open_dispatchers = dispatchers
            return dispatchers, float(dispatchers), [OpenModelUser]
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")

    def _stress(
        self, t: float, step_users: int, step_time: float, rate: float
    ) -> tuple[int, float, list[type[User]]] | None:
        if self._stopped:
            return None
        max_users = int(self._opt("stress_max_users", 200))
        step = int(t // step_time)
        target = min(max_users, step_users * (step + 1))
        recorder = CURRENT[-1] if CURRENT else None
        if recorder is not None and self.runner is not None:
            if self._step_start is None:
                self._step_start = (target, snapshot(self.runner.environment), recorder.elapsed())
            elif self._step_start[0] != target or t >= step_time * math.ceil(
                max_users / step_users
            ):
                users, since, since_s = self._step_start
                verdict = recorder.judge_step(users, since, since_s).verdict
                if not verdict.ok or users >= max_users:
                    self._stopped = True
                    return None
                self._step_start = (target, snapshot(self.runner.environment), recorder.elapsed())
        # Users spawn at -r per second, but never slower than a step's worth in a fifth of it.
        return target, max(rate, step_users * 5 / step_time), CLOSED_USERS
