"""The local stack's virtual clock: moving it forward fires the template's schedules at their
own virtual times, skipping only ticks with nothing of their work due."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from nudge_local.resources import REGION

log = logging.getLogger("devstack")
# Fast-forwarding fires the schedule every 6 virtual hours, not every 15 minutes: lifecycle
# checks are evaluated as of their due time anyway, and campaign sends (delays, 09:00-local
# schedules, dwell) land within those hours instead of a day late (moto makes every tick
# cost; a clock moved by less fires one tick at its end).
FAST_FORWARD_TICK_S = 6 * 3_600
DAY_S = 86_400  # a fast-forwarded scheduler tick fires at least once per virtual (UTC) day


class VirtualSchedule:
    """LocalStack's clock and schedule (a mixin: it reads the stack's functions, pollers and
    clock)."""

    # what the stack provides
    clock: Any
    spec: Any
    resolver: Any
    ddb: Any
    functions: dict[str, Any]
    environments: dict[str, list[Any]]
    _clock_lock: Any
    _last_tick: dict[str, int]
    _last_fired: dict[str, int]
    _stop: Any

    def drain(self, timeout_s: float = 60.0) -> dict[str, Any]:
        raise NotImplementedError

    def release_parked(self) -> int:
        raise NotImplementedError

    # ---------- time ----------
    def move_clock(self, advance: str | None = None, to: str | None = None) -> dict[str, Any]:
        from nudge.clock import parse_duration

        with self._clock_lock:
            now = self.clock.now()
            if advance is not None:
                target = now + parse_duration(str(advance))
            elif to is not None:
                target = datetime.fromisoformat(str(to))
                if target.tzinfo is None:
                    raise ValueError("set needs a time zone, e.g. 2026-11-23T09:00:00Z")
            else:
                raise ValueError("give 'advance' (e.g. \"7d\") or 'set' (ISO 8601)")
            if target < now:
                raise ValueError("the virtual clock only moves forward")
            self.drain()
            ticks = self._run_ticks(until=int(target.timestamp()))
            self.clock.set(target)
            self.release_parked()
            return {"now": target.isoformat(), "ticks": ticks}

    def _run_ticks(self, until: int) -> int:
        """Fire the schedules while fast-forwarding to `until`, each tick at its own time.

        Ticks are coalesced to at most one per 6 virtual hours (FAST_FORWARD_TICK_S), and a
        scheduler tick with none of its work due is skipped (see `_tick_work_due`; its next
        run starts from its own cursor, so no due user is missed). Deferred pushes are
        released at every tick so push_sender looks at them again at the new time.
        """
        fired = 0
        for schedule in self.spec.schedules:
            step = max(schedule.every_seconds, FAST_FORWARD_TICK_S)
            tick = self._last_tick[schedule.function] + step
            while True:
                at = min(tick, until)
                if at <= self._last_tick[schedule.function]:
                    break
                self.clock.set(datetime.fromtimestamp(at, UTC))
                released = self.release_parked()
                since = self._last_fired.get(schedule.function, 0)
                if self._tick_work_due(schedule.function, since, at):
                    self._fire(schedule.function, at)
                    self._last_fired[schedule.function] = at
                    fired += 1
                    released = 1
                self._last_tick[schedule.function] = at
                if released:
                    self.drain()
                if at == until:
                    break
                tick += step
        return fired

    def _tick_work_due(self, function: str, since: int, at: int) -> bool:
        """Whether a fast-forwarded tick at `at` has anything to do (else it is skipped).

        Only the scheduler's ticks are ever skipped, and only when none of its tick's work
        is due (functions/scheduler/app.py): no user due in the index (`_anyone_due`), and
        still the same virtual day as the last tick fired: auto-pause counts its window in
        days and the weekly sunset digest becomes due only on a new day (the first tick of
        an ISO week), so a tick fires at least once per virtual day, whoever is due. (In AWS
        it runs every 15 minutes; fast-forwarding trades that for speed, as it does for
        delayed sends.)
        """
        if function != "SchedulerFunction" or not since:
            return True
        if since // DAY_S != at // DAY_S:
            return True
        return self._anyone_due(function, since, at)

    def _anyone_due(self, function: str, since: int, until: int) -> bool:
        """For the scheduler only (dev tooling's shortcut): any due-index bucket in range?"""
        if (
            function != "SchedulerFunction"
            or not since
            or "ProfilesTable" not in (self.resolver.physical)
        ):
            return True
        from nudge.domain.config import EngagementConfig

        raw = self.resolver.parameters.get("EngagementConfig") or "{}"
        shards = EngagementConfig.model_validate_json(raw).due_shards
        table = self.resolver.physical["ProfilesTable"]["Ref"]
        for hour in range(since // 3600, until // 3600 + 1):
            for shard in range(shards):
                found = self.ddb.query(
                    TableName=table,
                    IndexName="due-index",
                    KeyConditionExpression="due_bucket = :b",
                    ExpressionAttributeValues={":b": {"S": f"{hour}#{shard}"}},
                    Limit=1,
                )
                if found.get("Items"):
                    return True
        return False

    def _fire(self, function: str, at: int) -> Any:
        event = {
            "version": "0",
            "id": f"local-{at}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{function}-tick"],
            "detail": {},
        }
        try:
            return self.functions[function].invoke(event)
        except Exception:
            log.exception("scheduled %s failed at %s", function, at)
            return None

    def _ticker(self) -> None:
        """Fire schedules as (virtual) time passes on its own."""
        while not self._stop.wait(1.0):
            with self._clock_lock:
                now = int(self.clock.now().timestamp())
                for schedule in self.spec.schedules:
                    due = self._last_tick[schedule.function] + schedule.every_seconds
                    if now >= due:
                        self._fire(schedule.function, now)
                        self._last_tick[schedule.function] = now - now % schedule.every_seconds
