"""`python -m routewatch.collector [options]`: the same as `routewatch collector`."""

from __future__ import annotations

from .service import main

if __name__ == "__main__":
    raise SystemExit(main())
