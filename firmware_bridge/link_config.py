"""The link's settings (``LinkConfig``, docs/protocol.md timing table) and counters."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BridgeUsageError


@dataclass(frozen=True, slots=True)
class LinkConfig:
    heartbeat_interval: float = 0.025
    loss_timeout: float = 0.25
    retransmit_timeout: float = 0.05
    max_retries: int = 10
    window: int = 8
    max_queued: int = 256
    handshake_interval: float = 0.1
    nack_interval: float = 0.05  # NOT_HANDSHAKEN NACKs at most this often (section 3)

    def __post_init__(self) -> None:
        for name in ("heartbeat_interval", "loss_timeout", "retransmit_timeout",
                     "handshake_interval"):
            if not getattr(self, name) > 0:
                raise BridgeUsageError(f"LinkConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.loss_timeout <= self.heartbeat_interval:
            raise BridgeUsageError(
                f"LinkConfig.loss_timeout ({self.loss_timeout}) must exceed "
                f"heartbeat_interval ({self.heartbeat_interval})"
            )
        if self.window < 1 or self.max_retries < 0 or self.max_queued < 0:
            raise BridgeUsageError("LinkConfig.window >= 1, max_retries >= 0, max_queued >= 0")


@dataclass(slots=True)
class LinkStats:
    frames_rx: int = 0
    frames_tx: int = 0
    bytes_rx: int = 0
    bytes_tx: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    decode_errors: int = 0
    frames_lost: int = 0  # gaps in the best-effort sequence
    duplicates: int = 0
    out_of_order: int = 0
    retransmits: int = 0
    delivery_failures: int = 0
    nacks_rx: int = 0
    nacks_tx: int = 0
    sample_gaps: int = 0
    samples_lost: int = 0
    ignored: int = 0  # valid frames that make no sense in the current state
    links_lost: int = 0


__all__ = ["LinkConfig", "LinkStats"]
