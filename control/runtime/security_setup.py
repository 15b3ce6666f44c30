"""Build the command-security seams (signed commands, site rules, ledger) from the configuration.

``[security]`` in the controller's TOML turns on signed ground commands and the
extraction ledger; ``[site_plan]`` turns on keep-out zones and quotas. Both are
validated here, at start-up, and a bad key fails with a message that names it.
With neither section the controller runs with ``TrustedLink`` and
``NoSiteRules`` (the demo and a bench on an access-controlled broker). Signed
commands are held to the same timing rules as every other ground command:
``[ground]``'s (``control.core.command_timing``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass

from ..core.config import ControllerConfig
from ..core.errors import ConfigError
from ..core.policy import CommandAuthenticator, SiteRules
from ..security import Ledger, SqliteReplayStore

log = logging.getLogger(__name__)

__all__ = ["SecuritySetup", "build_security"]


@dataclass
class SecuritySetup:
    authenticator: CommandAuthenticator | None = None
    site_rules: SiteRules | None = None
    ledger: Ledger | None = None
    replay_store: SqliteReplayStore | None = None

    def close(self) -> None:
        for thing in (self.ledger, self.replay_store):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()


def build_security(cfg: ControllerConfig) -> SecuritySetup:
    """Raises ``ConfigError`` naming the key for an invalid ``security``/``site_plan``."""
    from telemetry.contract import ContractError, SitePlanError, TopicTree

    from ..security import (
        GroundClockConfig,
        Ledger,
        PlanRules,
        SecurityConfigError,
        SecurityError,
        SignedCommandAuthenticator,
        SiteRulesPolicy,
        load_secret_key,
        security_config_from_dict,
        site_plan_from_dict,
    )

    setup = SecuritySetup()
    try:
        if cfg.security:
            sec = dataclasses.replace(security_config_from_dict(cfg.security),
                                      timing=cfg.ground.command_timing)
            key = load_secret_key(sec.rover_key_file)
            setup.ledger = Ledger.open(sec.ledger_path, key.signing_key, cfg.ground.rig_id)
            setup.replay_store = SqliteReplayStore(sec.replay_db, sec.replay_window)
            topic = TopicTree(cfg.ground.topic_prefix, cfg.ground.rig_id).command
            g = cfg.ground
            setup.authenticator = SignedCommandAuthenticator(
                sec, setup.replay_store, topic,
                GroundClockConfig(g.max_clock_skew_wall_s, g.clock_step_back_wall_s,
                                  g.clock_slew_back_rate))
            log.info("signed ground commands on (%d station keys), ledger %s",
                     len(sec.stations), sec.ledger_path)
        if cfg.site_plan:
            plan = site_plan_from_dict(cfg.site_plan)
            totals = setup.ledger.totals_kg if setup.ledger is not None else dict
            setup.site_rules = SiteRulesPolicy(PlanRules(plan), totals)
    except ConfigError:
        setup.close()
        raise
    except SitePlanError as err:  # the contract's error, reported with the same key
        setup.close()
        raise SecurityConfigError(err.key, err.problem) from err
    except (SecurityError, ContractError) as err:  # key file, ledger: name the section
        setup.close()
        raise ConfigError("security", str(err)) from err
    return setup
