"""parse_rate_limits: OpenAI and Anthropic rate-limit headers, retry-after, and garbage."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from routewatch.ratelimits import parse_duration, parse_rate_limits, read_response_headers
from routewatch.records import RateLimits

NOW = 1_751_364_000.0  # 2025-07-01T10:00:00Z
ORDINARY = [(b"Content-Type", b"application/json"), (b"Date", b"Tue, 01 Jul 2025 10:00:00 GMT")]


def test_no_rate_limit_headers_gives_all_none() -> None:
    assert parse_rate_limits(ORDINARY, NOW) == RateLimits()


def test_openai_headers() -> None:
    headers = {
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-limit-tokens": "30000000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-remaining-tokens": "29999980",
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-reset-tokens": "1m30s",
    }
    assert parse_rate_limits(headers, NOW) == RateLimits(
        remaining_requests=9999,
        remaining_tokens=29_999_980,
        limit_requests=10_000,
        limit_tokens=30_000_000,
        reset_requests_s=0.006,
        reset_tokens_s=90.0,
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("7.66s", 7.66),
        ("0s", 0.0),
        ("250us", 0.00025),
        ("2", 2.0),
    ],
)
def test_openai_reset_durations_become_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "ms", "1x", "-1s", "1m-2s", "nan", "infs", "1.2.3s", "h1"])
def test_malformed_durations_are_none(text: str) -> None:
    assert parse_duration(text) is None


def test_anthropic_request_and_token_headers() -> None:
    headers = [
        ("anthropic-ratelimit-requests-limit", "4000"),
        ("anthropic-ratelimit-requests-remaining", "3999"),
        ("anthropic-ratelimit-requests-reset", "2025-07-01T10:00:01Z"),
        ("anthropic-ratelimit-tokens-limit", "400000"),
        ("anthropic-ratelimit-tokens-remaining", "398000"),
        ("anthropic-ratelimit-tokens-reset", "2025-07-01T10:00:12.5Z"),
    ]
    assert parse_rate_limits(headers, NOW) == RateLimits(
        remaining_requests=3999,
        remaining_tokens=398_000,
        limit_requests=4000,
        limit_tokens=400_000,
        reset_requests_s=1.0,
        reset_tokens_s=12.5,
    )


def test_anthropic_reset_honours_the_utc_offset() -> None:
    headers = [("anthropic-ratelimit-requests-reset", "2025-07-01T12:01:00+02:00")]
    assert parse_rate_limits(headers, NOW).reset_requests_s == 60.0


def test_anthropic_reset_in_the_past_is_zero() -> None:
    headers = [("anthropic-ratelimit-requests-reset", "2025-07-01T09:59:00Z")]
    assert parse_rate_limits(headers, NOW).reset_requests_s == 0.0


def test_anthropic_combined_tokens_win_over_input_and_output() -> None:
    headers = [
        ("anthropic-ratelimit-tokens-remaining", "500"),
        ("anthropic-ratelimit-input-tokens-remaining", "100"),
        ("anthropic-ratelimit-output-tokens-remaining", "50"),
    ]
    assert parse_rate_limits(headers, NOW).remaining_tokens == 500


def test_anthropic_without_combined_tokens_reports_the_tighter_of_input_and_output() -> None:
    headers = [
        ("anthropic-ratelimit-input-tokens-limit", "400000"),
        ("anthropic-ratelimit-input-tokens-remaining", "390000"),
        ("anthropic-ratelimit-input-tokens-reset", "2025-07-01T10:00:05Z"),
        ("anthropic-ratelimit-output-tokens-limit", "80000"),
        ("anthropic-ratelimit-output-tokens-remaining", "1000"),
        ("anthropic-ratelimit-output-tokens-reset", "2025-07-01T10:00:30Z"),
    ]
    limits = parse_rate_limits(headers, NOW)
    assert (limits.limit_tokens, limits.remaining_tokens, limits.reset_tokens_s) == (80_000, 1000, 30.0)


def test_anthropic_input_tokens_alone_are_reported() -> None:
    limits = parse_rate_limits([("anthropic-ratelimit-input-tokens-limit", "400000")], NOW)
    assert limits.limit_tokens == 400_000


def test_retry_after_seconds() -> None:
    assert parse_rate_limits([("retry-after", "17")], NOW).retry_after_s == 17.0


def test_retry_after_http_date_becomes_seconds_from_now() -> None:
    assert parse_rate_limits([("retry-after", "Tue, 01 Jul 2025 10:00:20 GMT")], NOW).retry_after_s == 20.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_rate_limits([("retry-after", "Tue, 01 Jul 2025 09:00:00 GMT")], NOW).retry_after_s == 0.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = [("retry-after", "2"), ("retry-after-ms", "1500")]
    assert parse_rate_limits(headers, NOW).retry_after_s == 1.5


def test_raw_httpx_byte_pairs_with_any_case_are_read() -> None:
    headers = httpx.Headers([(b"X-RateLimit-Remaining-Requests", b"42"), (b"Retry-After", b"3")])
    limits = parse_rate_limits(headers.raw, NOW)
    assert (limits.remaining_requests, limits.retry_after_s) == (42, 3.0)


def test_httpx_headers_mapping_is_read() -> None:
    headers = httpx.Headers({"x-ratelimit-limit-tokens": "1000"})
    assert parse_rate_limits(headers, NOW).limit_tokens == 1000


def test_garbage_values_are_skipped_and_the_rest_kept() -> None:
    headers = [
        ("x-ratelimit-limit-requests", "lots"),
        ("x-ratelimit-remaining-requests", "-3"),
        ("x-ratelimit-reset-requests", "soon"),
        ("anthropic-ratelimit-tokens-reset", "tomorrow"),
        ("retry-after", "Someday, 99 Foo 20xx"),
        ("x-ratelimit-remaining-tokens", "77"),
    ]
    assert parse_rate_limits(headers, NOW) == RateLimits(remaining_tokens=77)


def test_non_latin1_bytes_do_not_raise() -> None:
    headers = [(b"x-ratelimit-limit-tokens", b"\xff\xfe12"), (b"retry-after-ms", b"\x00")]
    assert parse_rate_limits(headers, NOW) == RateLimits()


HEADER_NAMES = st.sampled_from(
    [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-remaining",
        "retry-after",
        "retry-after-ms",
    ]
) | st.text(max_size=30)


@given(
    headers=st.lists(
        st.tuples(HEADER_NAMES, st.text(max_size=40))
        | st.tuples(HEADER_NAMES.map(lambda name: name.encode("utf-8", "surrogatepass")), st.binary(max_size=40)),
        max_size=12,
    ),
    now=st.floats(allow_nan=True, allow_infinity=True),
)
def test_never_raises_on_arbitrary_header_text(headers: list[tuple[str | bytes, str | bytes]], now: float) -> None:
    assert isinstance(parse_rate_limits(headers, now), RateLimits)


def test_content_headers_are_read_in_the_same_pass() -> None:
    raw = [(b"Content-Type", b"text/event-stream"), (b"content-encoding", b"gzip"), (b"Content-Encoding", b"br")]
    assert read_response_headers(raw, NOW) == (RateLimits(), "text/event-stream", "gzip, br")
    assert read_response_headers([(b"x-ratelimit-remaining-requests", b"7")], NOW) == (
        RateLimits(remaining_requests=7),
        "",
        "",
    )
