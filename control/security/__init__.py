"""The rover side of command security: authentication, site rules, the extraction ledger.

The controller's seams (see docs/commands.md):

* ``SignedCommandAuthenticator.verify(topic, payload, now_wall)`` ->
  ``AuthorizedCommand | Rejection`` for every message on the command topic
  (``admit`` makes it the controller's ``control.core.policy.CommandAuthenticator``);
* ``PlanRules.check_arm(x, y)`` / ``check_dig(x, y, extracted_by_site, in_bucket_kg)``
  -> ``Decision`` (``SiteRulesPolicy`` adapts it to ``control.core.policy.SiteRules``);
* ``Ledger.append(DumpRecord)`` -> ``LedgerEntry`` (durable, hash-chained, signed);
* ``safety_zone_for`` / ``safety_zone_payload`` / ``public_feed_payload`` for the
  public topics.

The wire formats these use (command envelope and body, keys, ledger entries,
site plan) live in ``telemetry.contract`` because the ground tools speak them
too; this package re-exports the names the controller and its tests use.
"""

from telemetry.contract.command_wire import (
    MAX_BODY_BYTES,
    MAX_ENVELOPE_BYTES,
    CommandBody,
    RejectReason,
    encode_body,
    sign_envelope,
    signing_bytes,
)
from telemetry.contract.errors import KeyFileError
from telemetry.contract.keys import (
    StationKey,
    fingerprint,
    generate,
    load_public_key,
    load_secret_key,
    parse_public_key_hex,
    write_key_files,
)
from telemetry.contract.ledger_format import (
    GENESIS,
    BrokenEntry,
    DumpRecord,
    LedgerEntry,
    LedgerReport,
    verify_ledger,
)
from telemetry.contract.site_plan import DigSite, KeepOutZone, SitePlan, site_plan_from_dict

from .command_auth import (
    FAIL_SAFE_COMMANDS,
    AuthorizedCommand,
    Rejection,
    SignedCommandAuthenticator,
)
from .errors import (
    LedgerCorruptError,
    LedgerError,
    SecurityConfigError,
    SecurityError,
)
from .ground_clock import GroundClock, GroundClockConfig
from .ledger import Ledger
from .public_feed import (
    SafetyZone,
    public_feed_payload,
    public_topics,
    safety_zone_for,
    safety_zone_payload,
)
from .replay import (
    MemoryReplayStore,
    ReplayStore,
    ReplayVerdict,
    ReplayWindow,
    SqliteReplayStore,
)
from .security_config import SecurityConfig, StationConfig, security_config_from_dict
from .site_rules import Decision, PlanRules, SiteRulesPolicy

__all__ = [
    "FAIL_SAFE_COMMANDS",
    "GENESIS",
    "MAX_BODY_BYTES",
    "MAX_ENVELOPE_BYTES",
    "AuthorizedCommand",
    "BrokenEntry",
    "CommandBody",
    "Decision",
    "DigSite",
    "DumpRecord",
    "GroundClock",
    "GroundClockConfig",
    "KeepOutZone",
    "KeyFileError",
    "Ledger",
    "LedgerCorruptError",
    "LedgerEntry",
    "LedgerError",
    "LedgerReport",
    "MemoryReplayStore",
    "PlanRules",
    "RejectReason",
    "Rejection",
    "ReplayStore",
    "ReplayVerdict",
    "ReplayWindow",
    "SafetyZone",
    "SecurityConfig",
    "SecurityConfigError",
    "SecurityError",
    "SignedCommandAuthenticator",
    "SitePlan",
    "SiteRulesPolicy",
    "SqliteReplayStore",
    "StationConfig",
    "StationKey",
    "encode_body",
    "fingerprint",
    "generate",
    "load_public_key",
    "load_secret_key",
    "parse_public_key_hex",
    "public_feed_payload",
    "public_topics",
    "safety_zone_for",
    "safety_zone_payload",
    "security_config_from_dict",
    "sign_envelope",
    "signing_bytes",
    "site_plan_from_dict",
    "verify_ledger",
    "write_key_files",
]
