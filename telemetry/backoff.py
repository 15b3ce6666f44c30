"""Reconnect backoff for the downlink and the ground tools: the one in firmware_bridge."""

from firmware_bridge.backoff import Backoff

__all__ = ["Backoff"]
