"""Every telemetry name routewatch emits, pinned in one place.

GenAI names follow OpenTelemetry semantic conventions v1.41 (the last release that defines them in
the main repository; later ones moved them to semantic-conventions-genai and are renaming them).
routewatch's own additions live under `routewatch.*`. Nothing else in the package spells a name.
"""

from __future__ import annotations

__all__ = [
    "DURATION_BUCKETS",
    "SCHEMA_URL",
    "SEMCONV_VERSION",
    "TOKEN_BUCKETS",
]

SEMCONV_VERSION = "1.41.0"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"

# --- span attributes: GenAI (v1.41) ---------------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
OPENAI_API_TYPE = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

# Deprecated names, read (never written) when recognising spans of other instrumentations.
GEN_AI_SYSTEM_DEPRECATED = "gen_ai.system"

# --- span attributes: stable general conventions --------------------------------------------------
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT = "http.request.resend_count"

# --- routewatch extras -----------------------------------------------------------------------------
RW_COST_USD = "routewatch.cost.usd"
RW_COST_PRICED = "routewatch.cost.priced"
RW_USAGE_KNOWN = "routewatch.usage.known"
RW_OUTPUT_TOKENS_PER_S = "routewatch.output_tokens_per_second"
RW_STREAM_COMPLETED = "routewatch.stream.completed"
RW_STREAM_CHUNKS = "routewatch.stream.output_chunks"
RW_API = "routewatch.api"
RW_RATELIMIT_REMAINING_REQUESTS = "routewatch.ratelimit.remaining_requests"
RW_RATELIMIT_REMAINING_TOKENS = "routewatch.ratelimit.remaining_tokens"
RW_RATELIMIT_LIMIT_REQUESTS = "routewatch.ratelimit.limit_requests"
RW_RATELIMIT_LIMIT_TOKENS = "routewatch.ratelimit.limit_tokens"
RW_RATELIMIT_RESET_REQUESTS = "routewatch.ratelimit.reset_requests_s"
RW_RATELIMIT_RESET_TOKENS = "routewatch.ratelimit.reset_tokens_s"
RW_RETRY_AFTER = "routewatch.retry_after_s"
RW_TAG_PREFIX = "routewatch.tag."
RW_ATTEMPT_EVENT = "routewatch.attempt"
RW_INCLUDE_USAGE_INJECTED = "routewatch.request.include_usage_injected"

# --- metrics (v1.41 names, units, advisory buckets) ----------------------------------------------
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
METRIC_COST = "routewatch.client.cost"
METRIC_UNPRICED_CALLS = "routewatch.client.unpriced_calls"
METRIC_PARSE_ERRORS = "routewatch.instrumentation.errors"
METRIC_DROPPED_RECORDS = "routewatch.listener.dropped"

DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS: tuple[float, ...] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

# Operation names (v1.41).
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EMBEDDINGS = "embeddings"
OP_GENERATE_CONTENT = "generate_content"
# Not in v1.41 (which has no name for reading back a stored response); taken from the GenAI
# conventions' newer `fetch_response`, for which usage SHOULD NOT be reported.
OP_FETCH_RESPONSE = "fetch_response"

# Content capture environment variable (util-genai's name and values).
ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
