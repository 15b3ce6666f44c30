"""What the rover and the ground both speak: the one place a wire format is defined.

Modules (import them by name; this package hands on only the topic tree, the
names and the errors, what almost every user needs):

* ``topics``: the topic tree under ``{prefix}/{rig_id}/`` (docs/telemetry.md).
* ``names``: the enums of what the two sides exchange by name: ``CommandName``,
  ``EventKind``, ``TopicKind`` and the alarm ``CauseKind``.
* ``payloads`` and ``cbor_arrays``: telemetry envelope, typed messages, their
  JSON/CBOR encodings (docs/telemetry.md, "Payloads"); ``rig_state`` (the state
  message, ``RigState``), ``status_info`` (``RigInfo``), ``event_details`` (typed
  fields of the events the ground acts on) and ``json_fields`` (their decoding
  helpers, which name the bad field).
* ``public_payload``: the public topics' objects as the ground reads them.
* ``ledger_record``: a received ledger record's fields, read without verifying.
* ``command_wire``: the signed ground-command envelope and body (docs/commands.md).
* ``keys``: Ed25519 station and rover key files and fingerprints.
* ``ledger_format``: the extraction-ledger entry, its hash chain and verification.
* ``site_plan`` and ``geometry``: declared dig sites, keep-out zones, polygons.
* ``errors``: this package's exception tree.

Rule: the contract imports nothing of ours but itself (no ``control``, no
``telemetry.rover.downlink``, no ``telemetry.ground``); rover and ground import it.
"""

from telemetry.contract.errors import (
    ContractConfigError,
    ContractError,
    KeyFileError,
    PayloadDecodeError,
    PayloadEncodeError,
    SitePlanError,
)
from telemetry.contract.names import CauseKind, CommandName, EventKind, TopicKind
from telemetry.contract.topics import (
    DEFAULT_PREFIX,
    ParsedTopic,
    Priority,
    Severity,
    TopicTree,
    check_name,
    parse_topic,
)

__all__ = [
    "DEFAULT_PREFIX",
    "CauseKind",
    "CommandName",
    "ContractConfigError",
    "ContractError",
    "EventKind",
    "KeyFileError",
    "ParsedTopic",
    "PayloadDecodeError",
    "PayloadEncodeError",
    "Priority",
    "Severity",
    "SitePlanError",
    "TopicKind",
    "TopicTree",
    "check_name",
    "parse_topic",
]
