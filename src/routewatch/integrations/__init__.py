"""routewatch's health state machine applied to other routers through their own extension points.

Each integration lives in its own module and imports its router library only when used:
``routewatch.integrations.litellm`` (LiteLLM's Router).
"""
