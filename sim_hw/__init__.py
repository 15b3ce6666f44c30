"""sim_hw."""

__all__: list[str] = []
