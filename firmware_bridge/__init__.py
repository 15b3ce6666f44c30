"""Serial link between the rover computer and the rig firmware."""

__all__: list[str] = []
