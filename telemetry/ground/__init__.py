"""Ground-station tools."""

__all__: list[str] = []
