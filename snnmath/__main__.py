"""``python -m snnmath``: the command line of :mod:`snnmath.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
