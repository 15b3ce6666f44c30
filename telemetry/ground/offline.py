"""The ``rig:offline`` alarm: a rig gone without a clean shutdown, or fallen silent (sans-I/O).

Theory of operation
-------------------
The rover's retained status says ``online: false`` in two ways: its own clean
goodbye (``shutdown: true``, sent before it disconnects) and the last will the
broker publishes for it when its connection dies (a crash: at once; a hung
controller: after the broker's keep-alive runs out). Only the second is news
for an operator: a rig that was told to stop and stopped raises nothing. A hung
controller is usually noticed before its will arrives: its messages stop while
the ground's own broker link is up. Rules:

* an offline status without ``shutdown`` raises ``rig:offline`` ("offline
  unexpectedly") once the ground's link has stayed up ``will_confirm_s`` after
  it: a broker that is shutting down publishes the wills of every client it
  still has, and then the ground's own link drops, which discards them;
* a rig whose status says online and from which nothing arrived for
  ``silent_after_s`` while the ground's link was up raises it ("silent");
  a broker outage on the ground's side never raises a per-rig alarm (its rigs
  are *unknown* then, not offline): silence counts only while the link is up,
  and a rig not heard since the link came back is given ``reconnect_grace_s``
  more (the rover's own reconnect backoff, capped at 30 s, if the broker
  itself restarted);
* a clean shutdown status, an online status or any live message clears it
  (in the console it stays listed until acknowledged).

Time is an argument (ground wall-clock seconds); nothing here reads a clock.
"""

from __future__ import annotations

from telemetry.contract import CauseKind, Severity
from telemetry.ground.alarms import AlarmState, AlarmTable

__all__ = ["OFFLINE_CAUSE", "OfflineRule", "silence_text"]

OFFLINE_CAUSE = CauseKind.RIG.cause("offline")


def silence_text(silent_s: float, period_s: float | None) -> str:
    """What an operator reads when a rig fell silent (one decimal, never ``inf``)."""
    expected = f" (its states came every {period_s:.2g} s)" if period_s else ""
    return (f"rig silent for {silent_s:.1f} s while its status says online{expected}: "
            f"controller hung or its link lost")


class OfflineRule:
    """Raises and clears ``rig:offline`` in an :class:`AlarmTable`."""

    def __init__(self, alarms: AlarmTable, *, silent_after_s: float = 10.0,
                 reconnect_grace_s: float = 30.0, will_confirm_s: float = 1.0) -> None:
        self.alarms = alarms
        self.will_confirm_s = will_confirm_s
        self._wills: dict[str, float] = {}  # rig -> ground time its last will arrived
        self.silent_after_s = silent_after_s
        self.reconnect_grace_s = reconnect_grace_s
        self.link_up = False
        self.link_up_since: float | None = None  # ground time the link last came up

    def link(self, up: bool, now: float | None) -> None:
        """The ground's own broker link went up or down (``now`` unknown: the next
        :meth:`tick` stamps when it came up)."""
        if up and not self.link_up:
            self.link_up_since = now
        if not up:
            self._wills.clear()  # the broker went away: its wills say nothing about rigs
        self.link_up = up

    def tick(self, now: float) -> None:
        """Raise the alarm for last wills confirmed by the link staying up."""
        if self.link_up and self.link_up_since is None:
            self.link_up_since = now
        for rig, at in list(self._wills.items()):
            if self.link_up and now - at >= self.will_confirm_s:
                del self._wills[rig]
                self.alarms.raise_alarm(
                    rig, OFFLINE_CAUSE, Severity.ALARM,
                    "rig offline unexpectedly: its broker connection died without a clean "
                    "shutdown (controller crashed, hung or lost its link)", now)

    def status(self, rig: str, online: bool, shutdown: bool, now: float) -> None:
        """The rig's retained status arrived."""
        if online or shutdown:
            self.heard(rig, now)
        else:
            self._wills.setdefault(rig, now)  # decided by tick(), once confirmed

    def heard(self, rig: str, now: float) -> None:
        """A live message (or a clean status) from the rig: it is not gone."""
        self._wills.pop(rig, None)
        alarm = self.alarms.get(rig, OFFLINE_CAUSE)
        if alarm is not None and alarm.state is not AlarmState.CLEARED:
            self.alarms.clear(rig, OFFLINE_CAUSE, now)

    def silent_for(self, last_seen: float, now: float) -> float | None:
        """Seconds of silence that count against a rig last heard at ``last_seen``:
        ``None`` while the ground's link is down (then nobody can tell)."""
        if not self.link_up:
            return None
        up = self.link_up_since if self.link_up_since is not None else now
        since = last_seen if last_seen >= up else up + self.reconnect_grace_s
        return max(0.0, now - since)

    def check_silence(self, rig: str, online: bool | None, last_seen: float, now: float,
                      period_s: float | None) -> bool:
        """Raise ``rig:offline`` if the online rig has been silent too long; returns
        whether it is silent by this rule."""
        silent = self.silent_for(last_seen, now)
        if silent is None or silent < self.silent_after_s or not online:
            return False
        alarm = self.alarms.get(rig, OFFLINE_CAUSE)
        if alarm is None or alarm.state is not AlarmState.ACTIVE:
            self.alarms.raise_alarm(rig, OFFLINE_CAUSE, Severity.ALARM,
                                    silence_text(silent, period_s), now)
        return True
