"""The rig controller: supervisor, excavation strategy, interlocks, and the asyncio app."""

from .command_intake import TrustedLink, decode_command, parse_command
from .command_timing import CommandTiming
from .commands import CommandAck, CommandName, GroundCommand, check_command
from .config import ControllerConfig, load_config
from .errors import (
    CommandFormatError,
    ConfigError,
    ControlError,
    InvalidTransitionError,
    RigConnectionError,
)
from .events import ControlEvent, EventKind
from .interlocks import Interlocks, Reaction, Trip
from .lockstep import LockstepRunner
from .mass_estimator import DumpEstimate, MassEstimate, MassEstimator
from .measurements import Measurements
from .mission import MissionPlan, MissionProgress, load_mission
from .policy import CommandAuthenticator, CommandRefused, NoSiteRules, SiteRules
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
    "CommandTiming",
    "ConfigError",
    "ControlCore",
    "ControlError",
    "ControlEvent",
    "ControllerConfig",
    "DumpEstimate",
    "EventKind",
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
    "decode_command",
    "load_config",
    "load_mission",
    "make_strategy",
    "parse_command",
]
