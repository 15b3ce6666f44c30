"""The retained status's ``info``: what the rover says about itself (docs/telemetry.md,
"Status").

The rover's birth info (software, version, streams...) plus the downlink's own
health (``downlink``: refused publishes, dead letters). Keys this side does not
know are kept in ``extra`` and written back in order after the known ones, so a
newer rover's birth info passes an older ground untouched. Known fields left
``None`` are not written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from telemetry.contract.errors import PayloadEncodeError
from telemetry.contract.json_fields import (
    JsonObject,
    JsonValue,
    json_object,
    optional_str,
    req_int,
)
from telemetry.contract.param_table import ParamSpec, param_specs

__all__ = ["DownlinkHealth", "RigInfo"]


@dataclass(frozen=True, slots=True)
class DownlinkHealth:
    rejected: int = 0  # publishes the broker refused, this process
    dead_letters: int = 0  # messages in the outbox's dead-letter table (all boots)

    def to_json(self) -> JsonObject:
        return {"rejected": self.rejected, "dead_letters": self.dead_letters}

    @classmethod
    def from_json(cls, value: object, path: str) -> DownlinkHealth:
        body = json_object(value, path)
        return cls(req_int(body, "rejected", path),
                   req_int(body, "dead_letters", path))


_KNOWN = ("software", "version", "software_version", "downlink", "strategy", "params")


@dataclass(frozen=True, slots=True)
class RigInfo:
    software: str | None = None  # e.g. "rig-control"
    version: str | None = None
    software_version: str | None = None  # older rovers' spelling of software + version
    #: birth keys this side does not know (streams, rates...), kept as given
    extra: Mapping[str, JsonValue] = field(default_factory=dict)
    downlink: DownlinkHealth | None = None  # added by the downlink to every status
    strategy: str | None = None  # the active excavation strategy ("power_limited"...)
    #: the parameters the ground may set with set_param (empty: an older rover's)
    params: tuple[ParamSpec, ...] = ()

    @property
    def software_label(self) -> str | None:
        """What to show as the rig's software."""
        return self.software or self.software_version

    def with_downlink(self, health: DownlinkHealth) -> RigInfo:
        return replace(self, downlink=health)

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        for key in ("software", "version", "software_version"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key, value in self.extra.items():
            if key in _KNOWN:
                raise PayloadEncodeError(f"info.extra: key {key!r} is a RigInfo field")
            out[key] = value
        if self.downlink is not None:
            out["downlink"] = self.downlink.to_json()
        if self.strategy is not None:
            out["strategy"] = self.strategy
        if self.params:
            out["params"] = [p.to_json() for p in self.params]
        return out

    @classmethod
    def from_json(cls, value: object, path: str = "info") -> RigInfo:
        body = json_object(value, path)
        health, params = body.get("downlink"), body.get("params")
        return cls(optional_str(body, "software", path),
                   optional_str(body, "version", path),
                   optional_str(body, "software_version", path),
                   {k: v for k, v in body.items() if k not in _KNOWN},  # type: ignore[misc]
                   None if health is None else DownlinkHealth.from_json(health,
                                                                       f"{path}.downlink"),
                   optional_str(body, "strategy", path),
                   () if params is None else param_specs(params, f"{path}.params"))
