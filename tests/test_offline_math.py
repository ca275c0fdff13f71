"""Every formula of a built page renders with no network: the pages carry their own MathJax.

A throwaway book with the project's own _config.yml (and its _ext/ extension, which copies
MathJax into _static) is built in a temporary folder, with one page of inline and display math.
The page is opened from disk (file://) in real headless Chromium whose network is blackholed
(a proxy on a closed loopback port, every host name unresolvable), and its rendered DOM is read.

The control is the same book with ``mathjax_path`` pointed back at the CDN, as Sphinx has it by
default: under the same browser invocation it typesets nothing and shows raw ``\\(`` source, so a
pass of the first build is owed to the local MathJax and not to a network the browser reached.

Chromium comes from `make test` (Debian's package, see the Makefile's `chromium` target); where it
is missing the test skips and says so. The executable can be given with $CHROMIUM.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"  # sphinx.ext.mathjax's default

PAGE = r"""# Offline formulas

Inline dollar math $\theta$ and $P(u > \theta) = Q(\theta / \sqrt{V})$ in one sentence.

$$
\mathrm{Var}[w] = \frac{V}{n \, P(u > \theta)}
$$

```{math}
:label: eq-tail
Q(x) = \frac{1}{\sqrt{2\pi}} \int_x^\infty e^{-t^2/2} \, dt
```

An inline role {math}`\sqrt{3 \, \mathrm{Var}[w]}`, a bold symbol $\boldsymbol{w}$ that MathJax
loads an extension for, and a reference to {eq}`eq-tail`.

\begin{align}
u_{t+1} &= \beta u_t + I_t \\
s_t &= H(u_t - \theta)
\end{align}
"""
FORMULAS = 7  # the six formulas above, counting the align environment as one, plus the {math} role

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
    # no network: every request goes to a proxy on a closed loopback port, every host name fails
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=10000",  # virtual time: MathJax finishes typesetting before the DOM is dumped
]


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Chromium not found: `make test` installs Debian's chromium where it is root with apt-get; "
                    "elsewhere install it or set CHROMIUM to a Chromium executable")
    return found


def make_book(folder: Path, mathjax_path: str | None = None) -> Path:
    """The throwaway book, with the project's configuration, optionally with another mathjax_path."""
    (folder / "book").mkdir(parents=True)
    config = (ROOT / "_config.yml").read_text()
    if mathjax_path is not None:
        config, count = re.subn(r"(?m)^(\s*mathjax_path:).*$", rf"\1 {mathjax_path}", config)
        assert count == 1, "_config.yml should set mathjax_path once"
    (folder / "_config.yml").write_text(config)
    shutil.copytree(ROOT / "_ext", folder / "_ext")
    shutil.copy(ROOT / "book" / "references.bib", folder / "book" / "references.bib")
    (folder / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    (folder / "book" / "page.md").write_text(PAGE)
    return folder


def build(book: Path) -> subprocess.Popen:
    # the README's build command, pointed at the throwaway book
    command = [str(BIN / "jupyter-book"), "build", str(book), "--all", "-n", "-W", "--keep-going"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rendered_dom(browser: str, page: Path, profile: Path) -> str:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-3000:]
    return done.stdout


def visible_text(dom: str) -> str:
    """The page's text as a reader sees it: no scripts, styles or tags."""
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", dom)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", dom))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The page built with the project's configuration and with mathjax_path at the CDN (built in parallel)."""
    folder = tmp_path_factory.mktemp("offline-math")
    books = {"local": make_book(folder / "local"), "cdn": make_book(folder / "cdn", mathjax_path=CDN)}
    running = {name: build(book) for name, book in books.items()}
    for name, process in running.items():
        output = process.communicate(timeout=600)[0]
        assert process.returncode == 0, f"{name} build failed:\n{output[-5000:]}"
    return {name: book / "_build" / "html" / "book" / "page.html" for name, book in books.items()}


@pytest.fixture(scope="module")
def doms(built, tmp_path_factory):
    """Both pages as the browser renders them, offline."""
    browser = chromium()
    profiles = tmp_path_factory.mktemp("chromium-profiles")
    return {name: rendered_dom(browser, page, profiles / name) for name, page in built.items()}


def test_pages_load_mathjax_from_the_build_folder(built):
    source = built["local"].read_text()
    assert '<script defer="defer" src="../_static/mathjax/tex-mml-chtml.js' in source
    assert "cdn.jsdelivr.net" not in source
    static = built["local"].parents[1] / "_static" / "mathjax"
    assert (static / "tex-mml-chtml.js").is_file()
    assert (static / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()
    assert (static / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").is_file()


def test_every_formula_is_typeset_offline(doms):
    dom = doms["local"]
    typeset = dom.count("<mjx-container")
    assert typeset >= FORMULAS, f"{typeset} typeset formulas, expected {FORMULAS}"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
    text = visible_text(dom)
    for raw in ("\\(", "\\)", "\\[", "\\]", "$$", "\\begin{align}", "$\\theta$"):
        assert raw not in text, f"raw math {raw!r} left in the rendered page"


def test_the_network_is_blocked_so_a_cdn_page_shows_raw_math(built, doms):
    """The control: the same browser invocation cannot fetch MathJax from the CDN."""
    assert CDN in built["cdn"].read_text()
    dom = doms["cdn"]
    assert dom.count("<mjx-container") == 0
    assert "\\(" in visible_text(dom)
