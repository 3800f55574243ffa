"""Quality verdicts read the response in process and export only 0/1 per signal."""

from __future__ import annotations

from dataclasses import replace

from factories import make_record
from routewatch.drift.quality import ChangeTracker, quality_verdicts

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
    "required": ["city", "temp"],
}


def test_a_plain_good_answer_is_clean() -> None:
    assert quality_verdicts(make_record()) == {"refusal": 0, "truncated": 0, "empty": 0}


def test_json_requested_and_valid_against_the_schema() -> None:
    record = make_record(
        request={"output_type": "json", "json_schema": SCHEMA},
        response={"output_text": '{"city": "Oslo", "temp": 3.5}'},
    )
    assert quality_verdicts(record)["schema_invalid"] == 0


def test_json_requested_but_output_does_not_parse() -> None:
    record = make_record(request={"output_type": "json"}, response={"output_text": '{"city": "Oslo", '})
    assert quality_verdicts(record)["schema_invalid"] == 1


def test_json_parses_but_violates_the_schema() -> None:
    record = make_record(
        request={"output_type": "json", "json_schema": SCHEMA}, response={"output_text": '{"city": "Oslo"}'}
    )
    assert quality_verdicts(record)["schema_invalid"] == 1


def test_required_tool_call_missing_is_invalid() -> None:
    record = make_record(request={"tool_choice_required": True, "has_tools": True})
    assert quality_verdicts(record)["schema_invalid"] == 1
    ok = make_record(request={"tool_choice_required": True}, response={"tool_call_count": 1, "output_text": None})
    assert quality_verdicts(ok)["schema_invalid"] == 0


def test_refusals_and_content_filters() -> None:
    assert quality_verdicts(make_record(response={"refusal": True}))["refusal"] == 1
    assert quality_verdicts(make_record(finish_reasons=("content_filter",)))["refusal"] == 1
    assert quality_verdicts(make_record(finish_reasons=("SAFETY",)))["refusal"] == 1


def test_every_gemini_reason_that_means_blocked_or_filtered_is_a_refusal() -> None:
    # google-genai types.FinishReason (IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION, MODEL_ARMOR,
    # ESCALATION) and types.BlockedReason (JAILBREAK), which a record read back from a span carries
    # with no refusal flag
    for reason in ("IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR", "ESCALATION", "JAILBREAK"):
        assert quality_verdicts(make_record(finish_reasons=(reason,)))["refusal"] == 1, reason


def test_truncation_by_length() -> None:
    assert quality_verdicts(make_record(finish_reasons=("length",)))["truncated"] == 1
    assert quality_verdicts(make_record(finish_reasons=("max_tokens",)))["truncated"] == 1
    assert quality_verdicts(make_record(stream=True, stream_completed=True))["truncated"] == 0


def test_a_stream_the_app_stopped_reading_gets_no_verdicts() -> None:
    """Half a JSON object, no text yet, no finish reason: what the app chose not to read, not a
    provider's truncation, emptiness or broken schema (a provider's cut is an error, not this)."""
    stopped = make_record(
        stream=True, stream_completed=False, finish_reasons=(), request={"output_type": "json"},
        response={"output_text": '{"city": "Par', "finish_reasons": ()},
    )  # fmt: skip
    assert quality_verdicts(stopped) == {}
    assert quality_verdicts(replace(stopped, response=replace(stopped.response, output_text=None))) == {}


def test_empty_output() -> None:
    assert quality_verdicts(make_record(response={"output_text": None}))["empty"] == 1


def test_errors_and_embeddings_get_no_verdicts() -> None:
    assert quality_verdicts(make_record(error_type="rate_limit_exceeded", status_code=429)) == {}
    assert quality_verdicts(make_record(operation="embeddings")) == {}


def test_dated_snapshot_of_the_requested_model_is_not_a_change() -> None:
    assert ChangeTracker().events("k", make_record()) == []


def test_model_substitution_is_a_change_event() -> None:
    (event,) = ChangeTracker().events("k", make_record(response_model="gpt-3.5-turbo"))
    assert (event.kind, event.before, event.after) == ("model_mismatch", "gpt-4o-mini", "gpt-3.5-turbo")


def test_a_lasting_model_substitution_is_reported_when_it_starts_or_changes_not_per_call() -> None:
    tracker = ChangeTracker()
    substituted = make_record(response_model="gpt-3.5-turbo")
    assert [e.after for e in tracker.events("k", substituted)] == ["gpt-3.5-turbo"]
    assert tracker.events("k", substituted) == []
    assert [e.after for e in tracker.events("k", make_record(response_model="gpt-4.1-nano"))] == ["gpt-4.1-nano"]
    assert [e.after for e in tracker.events("other", substituted)] == ["gpt-3.5-turbo"]  # per stream
    assert tracker.events("k", make_record()) == []  # answered as asked again
    assert [e.after for e in tracker.events("k", substituted)] == ["gpt-3.5-turbo"]  # a new substitution


def test_fingerprint_change_is_reported_once() -> None:
    tracker = ChangeTracker()
    assert tracker.events("k", make_record(response={"system_fingerprint": "fp_a"})) == []
    (event,) = tracker.events("k", make_record(response={"system_fingerprint": "fp_b"}))
    assert event.kind == "fingerprint_changed" and (event.before, event.after) == ("fp_a", "fp_b")
    assert tracker.events("k", make_record(response={"system_fingerprint": "fp_b"})) == []


def test_response_shape_drift_names_the_fields() -> None:
    tracker = ChangeTracker()
    tracker.events("k", make_record())
    (event,) = tracker.events("k", make_record(response={"shape": ("choices", "id", "model", "object", "usage_v2")}))
    assert event.kind == "shape_changed" and event.before == "usage" and event.after == "usage_v2"


def test_tracker_is_bounded() -> None:
    tracker = ChangeTracker(max_keys=3)
    for key in range(10):
        tracker.events(key, make_record())
    assert len(tracker._seen) == 3
