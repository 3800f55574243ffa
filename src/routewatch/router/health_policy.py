"""`HealthPolicy`: how a `HealthBook` demotes, ejects, probes and restores (the rules are in `health`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["HealthPolicy"]


class HealthPolicy(BaseModel):
    """How targets are demoted, ejected, probed and restored. Times in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # demotion
    warning_penalty: float = Field(default=0.5, gt=0, lt=1, description="Weight cut by one warning alarm.")
    critical_penalty: float = Field(default=0.8, gt=0, lt=1, description="Weight cut by one critical alarm.")
    reference_effect: float = Field(default=1.0, gt=0, description="Effect size at which the penalty applies 1:1.")
    min_weight: float = Field(default=0.05, gt=0, lt=1, description="Lowest weight of a routable target.")
    ignored_signals: tuple[str, ...] = Field(
        default=("output_tokens", "cost"), description="Signals that describe the workload or price, not health."
    )
    min_dwell_s: float = Field(default=30.0, ge=0, description="Least time in DEGRADED before restoring.")
    rearm_s: float = Field(default=300.0, ge=0, description="After recovery, warning alarms are held this long.")
    # ejection
    consecutive_failures: int = Field(default=5, ge=1, description="Hard failures in a row that eject.")
    client_error_codes: tuple[int, ...] = Field(
        default=(400, 413, 422), description="HTTP statuses that are the request's fault, not the target's."
    )
    eject_signals: tuple[str, ...] = Field(
        default=("error", "server_error", "empty", "schema_invalid", "refusal", "truncated", "score"),
        description="Signals whose critical alarm ejects at once.",
    )
    eject_after_degraded_s: float | None = Field(
        default=900.0, gt=0, description="A critical alarm open this long ejects; None never."
    )
    base_ejection_s: float = Field(default=30.0, gt=0, description="Ejection time, times the ejection count.")
    max_ejection_s: float = Field(default=300.0, gt=0, description="Longest ejection.")
    max_ejected_fraction: float = Field(default=0.5, ge=0, le=1, description="Share of a group that may be out.")
    # probing
    probe_budget: int = Field(default=10, ge=1, description="Probe calls per half-open round.")
    probe_interval_s: float = Field(default=5.0, ge=0, description="Least time between two probes.")
    probe_timeout_s: float = Field(default=60.0, gt=0, description="Probing with no probe this long ejects.")
    probe_min_successes: int = Field(default=3, ge=1, description="Successes needed whatever the test says.")
    probe_baseline_failure_rate: float = Field(default=0.05, gt=0, lt=1, description="H0 of the probe test.")
    probe_failing_failure_rate: float = Field(default=0.5, gt=0, lt=1, description="H1 of the probe test.")
    probe_error: float = Field(default=0.05, gt=0, lt=0.5, description="Both error rates of the probe test.")
    # slow start
    ramp_s: float = Field(default=60.0, ge=0, description="Slow-start length.")
    ramp_floor: float = Field(default=0.1, gt=0, le=1, description="Weight at the start of a ramp.")
    # peer check
    peer_fraction: float = Field(default=0.6, gt=0, le=1, description="Share of a group alarming together = shift.")
    peer_min_targets: int = Field(default=3, ge=2, description="Group size before the peer check applies.")
    peer_window_s: float = Field(default=600.0, gt=0, description="How recent a peer's alarm must be.")
    shift_confirm_s: float = Field(
        default=30.0, ge=0, description="A drift demotion waits this long for peers' alarms (a shift); 0: at once."
    )

    @model_validator(mode="after")
    def _consistent(self) -> HealthPolicy:
        if self.max_ejection_s < self.base_ejection_s:
            raise ValueError("max_ejection_s must be >= base_ejection_s")
        if self.probe_failing_failure_rate <= self.probe_baseline_failure_rate:
            raise ValueError("probe_failing_failure_rate must exceed probe_baseline_failure_rate")
        if self.probe_min_successes > self.probe_budget:
            raise ValueError("probe_min_successes must not exceed probe_budget")
        return self
