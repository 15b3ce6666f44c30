"""sim_hw: a software rig that speaks the firmware protocol, with physics and fault injection.

``Rig(RigConfig(...))`` runs the simulated firmware (``firmware.Firmware``)
over the plant (``plant.RigPlant``) behind a pty, a TCP port or a serial
device; ``rig-sim`` is its command line. Faults are data
(``scenario.parse_fault`` / ``load_scenario``) applied by
``injector.FaultInjector``. See ``rig.py`` for the two clocks (simulated vs
wall) and ``firmware.py`` for the firmware's rules.
"""

from .channels import CHANNEL_IDS, CHANNELS, NO_READING
from .errors import ScenarioError, SimError, SimUsageError
from .firmware import Firmware, FirmwareConfig, Power
from .injector import FaultInjector
from .plant import Actuation, RigPlant
from .plant_config import PlantConfig, SoilConfig
from .ports import PtySpec, SerialSpec, TcpSpec
from .rig import Rig, RigConfig, RigStats
from .scenario import FAULT_KINDS, Fault, load_scenario, parse_fault, parse_scenario
from .sensors import SensorSynth
from .terrain import SiteMap

__all__ = [
    "CHANNELS",
    "CHANNEL_IDS",
    "FAULT_KINDS",
    "NO_READING",
    "Actuation",
    "Fault",
    "FaultInjector",
    "Firmware",
    "FirmwareConfig",
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
    "load_scenario",
    "parse_fault",
    "parse_scenario",
]
