"""An ordinary app: it makes OpenAI calls and knows nothing about routewatch or OpenTelemetry.

`examples/zero_code.py` runs it under `opentelemetry-instrument`, which turns routewatch on through
its entry point (the leading underscore: the example test runs zero_code.py, not this file). Run by
hand, it needs a provider simulator (`routewatch simulator --port 8000`):

    ROUTEWATCH_SIMULATOR_URL=http://127.0.0.1:8000 opentelemetry-instrument --traces_exporter console \\
        python examples/_zero_code_app.py
"""

from __future__ import annotations

import os
import sys

import openai

client = openai.OpenAI(base_url=os.environ["ROUTEWATCH_SIMULATOR_URL"] + "/v1", api_key="sk-example")
messages = [{"role": "user", "content": "One sentence about observability."}]
reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
for _chunk in client.chat.completions.create(
    model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
):
    pass
print("app: got", reply.choices[0].message.content[:40], "...", file=sys.stderr)
