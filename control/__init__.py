"""The rig controller: supervisor, excavation strategy, interlocks, and the asyncio app."""

from .core.command_timing import CommandTiming
from .core.commands import CommandAck, CommandName, GroundCommand, check_command
from .core.config import ControllerConfig, load_config
from .core.errors import (
    CommandFormatError,
    ConfigError,
    ControlError,
    InvalidTransitionError,
    RigConnectionError,
)
from .core.events import ControlEvent, EventKind
from .core.interlocks import Interlocks, Reaction, Trip
from .core.mass_estimator import DumpEstimate, MassEstimate, MassEstimator
from .core.measurements import Measurements
from .core.mission import MissionPlan, MissionProgress, load_mission
from .core.policy import CommandAuthenticator, CommandRefused, NoSiteRules, SiteRules
from .core.power_strategy import PowerLimitedStrategy
from .core.step import ControlCore, StepInputs, StepOutput
from .core.strategy import ExcavationStrategy, make_strategy
from .core.supervisor import Mode, ModeChanged, Supervisor, Trigger
from .security.command_intake import TrustedLink, decode_command

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
]
