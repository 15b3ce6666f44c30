"""sim_hw: a software rig that speaks the firmware protocol, with physics and fault injection.

``Rig(RigConfig(...))`` runs the simulated firmware (``firmware.Firmware``)
over the plant (``plant.RigPlant``) behind a pty, a TCP port or a serial
device; ``rig-sim`` is its command line. Faults are data
(``scenario.parse_fault`` / ``load_scenario``) applied by
``injector.FaultInjector``. See ``rig.py`` for the two clocks (simulated vs
wall) and ``firmware.py`` for the firmware's rules. ``LockstepRig`` is the
same rig without a port or a clock, stepped by its caller (benchmarks,
tests); ``TruthRecorder`` books what really happened (``--truth-log``), for
them and never for the controller.
"""

from firmware_bridge.messages import NO_READING

from .channels import CHANNEL_IDS, CHANNELS
from .errors import ScenarioError, SimError, SimUsageError
from .firmware import Firmware, FirmwareConfig, Power
from .injector import FaultInjector
from .lockstep import LockstepRig
from .plant import Actuation, RigPlant
from .plant_config import SOIL_PRESETS, PlantConfig, SoilConfig
from .ports import MemorySpec, PtySpec, SerialSpec, TcpSpec
from .rig import Rig, RigConfig, RigStats
from .scenario import FAULT_KINDS, Fault, load_scenario, parse_fault, parse_scenario
from .sensors import SensorSynth
from .terrain import SiteMap
from .truth import DumpTruth, TruthRecorder

__all__ = [
    "CHANNELS",
    "CHANNEL_IDS",
    "FAULT_KINDS",
    "NO_READING",
    "SOIL_PRESETS",
    "Actuation",
    "DumpTruth",
    "Fault",
    "FaultInjector",
    "Firmware",
    "FirmwareConfig",
    "LockstepRig",
    "MemorySpec",
    "PlantConfig",
    "Power",
    "PtySpec",
    "Rig",
    "RigConfig",
    "RigPlant",
    "RigStats",
    "ScenarioError",
    "SensorSynth",
    "SerialSpec",
    "SimError",
    "SimUsageError",
    "SiteMap",
    "SoilConfig",
    "TcpSpec",
    "TruthRecorder",
    "load_scenario",
    "parse_fault",
    "parse_scenario",
]
