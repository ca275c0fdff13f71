"""``python -m snnmath.train``: the command line of :mod:`snnmath.train.cli`."""

from .cli import main

raise SystemExit(main())
