"""The drift engine: per-stream detectors over call signals, explained alarms, and their sinks."""

from __future__ import annotations

from .alarm import Alarm, SignalStats, StreamKey
from .monitor import DriftMonitor, MonitorConfig
from .sinks import AlarmCounter, LogSink, SpanEventSink, WebhookSink

__all__ = [
    "Alarm",
    "AlarmCounter",
    "DriftMonitor",
    "LogSink",
    "MonitorConfig",
    "SignalStats",
    "SpanEventSink",
    "StreamKey",
    "WebhookSink",
]
