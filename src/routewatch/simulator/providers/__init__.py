"""One responder module per provider API: each turns a `Call` into a JSON reply or a stream plan."""
