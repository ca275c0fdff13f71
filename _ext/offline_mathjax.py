"""Ship MathJax with the built book, so that every formula renders without network access.

Sphinx's default ``mathjax_path`` is a CDN URL: a page opened offline (from disk or from a
server without internet) shows every formula as raw ``\\(...\\)`` source. ``_config.yml`` sets
``mathjax_path: mathjax/tex-mml-chtml.js`` (the component Sphinx loads from the CDN by default),
which Sphinx resolves relative to the build's ``_static`` folder; this extension copies MathJax 3
there from the pinned PyPI package ``django-static-mathjax`` (``requirements.txt``), a verbatim
copy of MathJax's own ``es5`` distribution, importable as ``mathjax``.

Only what a page can load is copied (about 9 MB of the package's 24 MB ``es5`` folder): the
entry component, the TeX/MathML input extensions (``\\require`` and autoload), both output
renderers with their fonts (the MathJax menu can switch to SVG), the menu and accessibility
components with the speech rule engine, and MathJax's licence.
"""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "django-static-mathjax"  # the PyPI distribution, pinned in requirements.txt
ENTRY = "tex-mml-chtml.js"
COPIED = [ENTRY, "core.js", "loader.js", "startup.js", "input", "output", "ui", "a11y", "sre"]


def mathjax_es5() -> Path:
    """The ``es5`` folder of the installed MathJax 3 copy."""
    try:
        root = Path(str(importlib.resources.files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError as error:
        raise ExtensionError(f"MathJax for the offline book is missing: pip install the pinned {PACKAGE}") from error
    es5 = root / "es5"
    if not (es5 / ENTRY).is_file():
        raise ExtensionError(f"{es5 / ENTRY} not found: the module 'mathjax' is not {PACKAGE}'s copy of MathJax 3")
    return es5


def copy_mathjax(app: Sphinx) -> None:
    """Copy MathJax into ``_static/mathjax`` of an HTML build whose ``mathjax_path`` is local."""
    if app.builder.format != "html" or "://" in app.config.mathjax_path:
        return
    es5 = mathjax_es5()
    target = Path(app.outdir) / "_static" / "mathjax"
    for name in COPIED:
        source = es5 / name
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    shutil.copy2(es5.parent / "LICENSE", target / "LICENSE")
    if not (target.parent / app.config.mathjax_path).is_file():
        logger.warning("mathjax_path %r is not among the MathJax files copied to _static/mathjax (%s)",
                       app.config.mathjax_path, ", ".join(COPIED))


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("builder-inited", copy_mathjax)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
