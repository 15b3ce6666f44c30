"""``rig-control demo``'s own parts: the simulator child process, the run's productivity
assessment against the simulator's truth log, and the run's plot.

Only ``control.cli`` imports this room; the controller that runs on a rover never does.
"""

__all__: list[str] = []
