"""The rig controller: supervisor, excavation strategy, interlocks, and the asyncio app."""

from .commands import CommandAck, CommandName, GroundCommand, check_command, parse_command
from .config import ControllerConfig, load_config
from .errors import (
    CommandFormatError,
    ConfigError,
    ControlError,
    InvalidTransitionError,
    RigConnectionError,
)
from .interlocks import Interlocks, Reaction, Trip
from .lockstep import LockstepRunner
from .mass_estimator import DumpEstimate, MassEstimate, MassEstimator
from .measurements import Measurements
from .mission import MissionPlan, MissionProgress, load_mission
from .policy import CommandAuthenticator, CommandRefused, NoSiteRules, SiteRules, TrustedLink
from .power_strategy import PowerLimitedStrategy
from .step import ControlCore, StepInputs, StepOutput
from .strategy import ExcavationStrategy, make_strategy
from .supervisor import Mode, ModeChanged, Supervisor, Trigger

__all__ = [
    "CommandAck",
    "CommandAuthenticator",
    "CommandFormatError",
    "CommandName",
    "CommandRefused",
    "ConfigError",
    "ControlCore",
    "ControlError",
    "ControllerConfig",
    "DumpEstimate",
    "ExcavationStrategy",
    "GroundCommand",
    "Interlocks",
    "InvalidTransitionError",
    "LockstepRunner",
    "MassEstimate",
    "MassEstimator",
    "Measurements",
    "MissionPlan",
    "MissionProgress",
    "Mode",
    "ModeChanged",
    "NoSiteRules",
    "PowerLimitedStrategy",
    "Reaction",
    "RigConnectionError",
    "SiteRules",
    "StepInputs",
    "StepOutput",
    "Supervisor",
    "Trigger",
    "Trip",
    "TrustedLink",
    "check_command",
    "load_config",
    "load_mission",
    "make_strategy",
    "parse_command",
]
