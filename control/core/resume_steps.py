"""``ControlCore``'s way back into the mission after a restart (a mixin).

Theory of operation
-------------------
A controller that starts does not know what the rig is doing: the previous
process may have died with the drum in the soil, a loaded bucket or the arm
raised, and the firmware's watchdog stopped the motors wherever they were.
So, once per process:

* ``resume(r, plan_hash)`` (before the first step) installs the mission the
  app reconciled (``control.core.mission_record.reconcile``): the same mission
  with its progress, or a new one (a core never given one, as in the pure
  tests, does not wait to read the rig);
* the first ``LinkUp`` tells whether the firmware's watchdog stopped the motors
  (FIRMWARE_INFO's WATCHDOG_TRIPPED): a ``watchdog_tripped`` warning says so;
* once both sample streams have been fresh for ``SETTLE_S`` (the filters have
  settled), ``_recover`` reads the rig: the load cell, the drum's depth, the
  position. A dump the record shows cut short before it was booked is booked
  now for what left the bucket; a bucket still holding more than ``LOADED_KG``
  is *carried* (stow, drive to the dump, dump and book it, as after a dig);
  a drum below the surface is lifted before any drive (``ControlCore._next_action``).
  A ``mission_resumed`` event and the state message's ``resumed`` say, e.g.,
  ``resumed: site A 47.5 / 45 kg, bucket 8.2 kg``.

Until then the core holds (no mission step is taken even when armed); motion
still needs the ground's ``arm`` and ``start`` (or the local operator's).
``new_mission`` (a ground command) ends the mission in progress and begins the
next with the same plan; the old progress goes out in a ``mission_replaced``
event and stays in the mission store's history.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from telemetry.contract.rig_state import ResumeReport

from .events import ControlEvent, EventKind, Severity
from .mission import MissionProgress
from .mission_record import MissionRecord, Resume, new_mission_id, record_of
from .state_message import rounded as _r
from .supervisor import Mode

if TYPE_CHECKING:
    from .config import ControllerConfig
    from .mass_estimator import MassEstimate, MassEstimator
    from .measurements import Measurements
    from .step_messages import LinkUp
    from .supervisor import ModeChanged, Supervisor

log = logging.getLogger(__name__)

__all__ = ["LOADED_KG", "SETTLE_S", "ResumeSteps"]

#: a bucket reading more than this after a restart is carried to the dump
LOADED_KG = 0.5
#: plant seconds of fresh samples before the rig's state is read (the filters settle)
SETTLE_S = 0.5
#: what an interrupted dump must have tipped out to be booked
_BOOK_MIN_KG = 0.5


class ResumeSteps:
    """The restart steps; mixed into ``ControlCore`` (one object, one state)."""

    config: ControllerConfig
    supervisor: Supervisor
    mass: MassEstimator
    mission: MissionProgress | None
    mission_running: bool
    mission_declared: bool
    carrying: bool
    stowed: bool
    _dig_site: int | None
    _events: list[ControlEvent | ModeChanged]

    plan_hash: str = ""
    #: what the state message shows after a restart (None before the rig was read)
    resumed: ResumeReport | None = None
    _resume: Resume | None = None
    _recovered: bool = True  # until resume(): a core driven without one never waits
    _fresh_since: float = math.nan
    _tripped_at_start: bool | None = None  # the first LinkUp's WATCHDOG_TRIPPED

    @property
    def recovered(self) -> bool:
        """The rig's state was read after the start: mission steps may run."""
        return self._recovered

    def resume(self, r: Resume, plan_hash: str) -> None:
        """Before the first step: the mission to continue (or begin), from the app."""
        self.mission = r.progress
        self.plan_hash = plan_hash
        self._resume = r
        self._recovered = False
        self.mission_declared = r.resumed and r.progress.complete

    def mission_record(self) -> MissionRecord | None:
        """The record to store now (``None`` without a mission)."""
        if self.mission is None:
            return None
        return record_of(self.mission, self.plan_hash, self.supervisor.mode.value,
                         self._dig_site, self.mass.last.estimate_kg)

    def _link_up_seen(self, now: float, n: LinkUp) -> None:
        if n.watchdog_tripped:
            self._note(now, EventKind.WATCHDOG_TRIPPED, Severity.WARNING,
                       "the firmware's watchdog stopped the motors before this session "
                       "(a controller died or the link was lost): the rig's state is read "
                       "before the mission continues")
        if self._tripped_at_start is None:
            self._tripped_at_start = n.watchdog_tripped

    def _recover_when_settled(self, now: float, m: Measurements, est: MassEstimate) -> None:
        """Each step until the rig was read once (``_recover``)."""
        stale = self.config.interlocks.sensor_stale_s
        if self._tripped_at_start is None or self.supervisor.mode not in (Mode.IDLE, Mode.ARMED) \
                or m.age > stale or m.nav_age > stale:
            self._fresh_since = math.nan
            return
        if math.isnan(self._fresh_since):
            self._fresh_since = now
        if now - self._fresh_since >= SETTLE_S:
            self._recover(now, m, est)

    def _recover(self, now: float, m: Measurements, est: MassEstimate) -> None:
        self._recovered = True
        r = self._resume
        cell_ok = est.load_cell_ok and not math.isnan(est.load_cell_kg)
        bucket = max(0.0, est.load_cell_kg) if cell_ok else math.nan
        if r is not None and r.interrupted_dump_kg > 0 and cell_ok:
            left = r.interrupted_dump_kg - bucket
            if left >= _BOOK_MIN_KG:
                self._book_interrupted_dump(now, r.dig_site, left)
        if cell_ok and bucket > LOADED_KG:
            self.carrying = True
            self.stowed = False
            current = self.mission.current if self.mission is not None else None
            self._dig_site = r.dig_site if r is not None and r.dig_site is not None else (
                self.mission.sites.index(current) if self.mission and current else None)
        in_soil = not math.isnan(m.cut_depth) and m.cut_depth > 0.0
        self.resumed = self._resumed_view(r, bucket, m.cut_depth, in_soil)
        fields = {k: v for k, v in self.resumed.to_json().items() if k != "text"}
        self._note(now, EventKind.MISSION_RESUMED if r is not None and r.resumed
                   else EventKind.RIG_STATE_READ, Severity.INFO, self.resumed.text, **fields)
        if r is not None and r.resumed:  # in the service's journal without -v too
            log.warning("%s", self.resumed.text)

    def _resumed_view(self, r: Resume | None, bucket: float, depth: float,
                      in_soil: bool) -> ResumeReport:
        m = self.mission
        sites = ", ".join(f"site {s.site.name} {s.delivered_kg:.1f} / {s.site.target_kg:g} kg"
                          for s in m.sites) if m is not None else "no mission"
        load = f"bucket {bucket:.1f} kg" if not math.isnan(bucket) else \
            "bucket unknown (load cell distrusted)"
        what = "resumed" if r is not None and r.resumed else "started"
        todo = []
        if in_soil:
            todo.append(f"drum in the soil ({depth:.3f} m): lift it first")
        if self.carrying:
            todo.append("the load goes to the dump")
        elif math.isnan(bucket):
            todo.append("check the bucket")
        text = f"{what}: {sites}, {load}" + (f" ({'; '.join(todo)})" if todo else "")
        again = r is not None and r.resumed
        return ResumeReport(text, m.mission_id if m is not None else "", again,
                            r.phase if r is not None and again else "", _r(bucket),
                            _r(depth, 4), self.carrying, bool(self._tripped_at_start))

    def _book_interrupted_dump(self, now: float, site_index: int | None, mass: float) -> None:
        """A dump cut short by the restart: book what left the bucket (the ledger entry
        goes out with the ``bucket_dumped`` event, as for any dump)."""
        site = self.mission.credit(site_index, mass) if self.mission is not None else None
        name = site.site.name if site is not None else ""
        x, y = (site.site.x, site.site.y) if site is not None else (math.nan, math.nan)
        self._note(now, EventKind.BUCKET_DUMPED, Severity.INFO,
                   f"dumped {mass:.1f} kg" + (f" from site {name}" if name else "")
                   + " (a dump cut short by a restart)", mass_kg=round(mass, 3), site=name,
                   cycle=0, x=_r(x, 3), y=_r(y, 3), interrupted=True)

    def _new_mission(self, now: float, why: str) -> None:
        """End the mission in progress; begin the next with the same plan."""
        old = self.mission
        assert old is not None  # check_command refuses new_mission without one
        self.mission = MissionProgress(
            old.plan, mission_id=new_mission_id(old.plan, self.mission_record()),
            ledger_start=old.ledger_start + old.dumps)
        self.mission_declared = False
        self._dig_site = None
        self._note(now, EventKind.MISSION_REPLACED, Severity.INFO,
                   f"mission {old.mission_id or old.plan.name} ended by {why} "
                   f"({old.delivered_kg:.1f} / {old.plan.target_kg:g} kg); mission "
                   f"{self.mission.mission_id} begins", previous=old.as_dict(),
                   mission_id=self.mission.mission_id)

    def _note(self, now: float, kind: EventKind, severity: Severity, text: str,
              **data: Any) -> None:
        log.info("%s: %s", kind, text)
        self._events.append(ControlEvent(now, kind, severity, text, data))
