"""The public topics' payloads as the ground reads them (docs/commands.md, "Public topics").

``public/{prefix}/{rig}/safety_zone`` and ``public/{prefix}/{rig}/feed`` carry a
JSON object without the downlink envelope (nothing beyond the documented,
redacted fields leaves the rig there; ``control.security.public_feed`` builds
them). The ground checks which rig the object names and keeps it as received for
display: :func:`decode_public` raises only ``PayloadDecodeError``, naming the field.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.json_fields import JsonObject, json_object, req_str

__all__ = ["PublicKind", "PublicPayload", "decode_public"]


class PublicKind(enum.StrEnum):
    """The last level of a public topic."""

    SAFETY_ZONE = "safety_zone"
    FEED = "feed"


@dataclass(frozen=True, slots=True)
class PublicPayload:
    rig: str
    body: JsonObject  # the whole object, shown as received


def decode_public(payload: bytes) -> PublicPayload:
    """The rig a public payload names, and the payload; ``PayloadDecodeError`` if it is not
    a JSON object naming a rig."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as err:
        raise PayloadDecodeError(f"unparseable public payload: {err}") from err
    body = json_object(value, "payload")
    return PublicPayload(req_str(body, "rig", ""), dict(body))  # type: ignore[arg-type]
