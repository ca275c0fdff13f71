"""A chapter whose assert fails must fail both the book build and the nbval run.

A throwaway book with the project's own _config.yml (and its _ext/ extension) is built in a temporary folder,
once with a passing chapter (the control) and once with a failing one.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Throwaway

```{{code-cell}} ipython3
theory, simulation = 1.0, {measured}
assert abs(theory - simulation) < 0.1, "theory and simulation disagree"
```
"""


def make_book(folder: Path, measured: float) -> Path:
    (folder / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", folder / "_config.yml")
    shutil.copytree(ROOT / "_ext", folder / "_ext")  # the configuration's local extension (offline MathJax)
    shutil.copy(ROOT / "book" / "references.bib", folder / "book" / "references.bib")
    (folder / "_toc.yml").write_text("format: jb-book\nroot: book/chapter\n")
    (folder / "book" / "chapter.md").write_text(CHAPTER.format(measured=measured))
    return folder


def build(book: Path) -> subprocess.CompletedProcess:
    # the README's build command, pointed at the throwaway book
    command = [str(BIN / "jupyter-book"), "build", str(book), "--all", "-n", "-W", "--keep-going"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def nbval(book: Path) -> subprocess.CompletedProcess:
    notebook = book / "chapter.ipynb"
    source = book / "book" / "chapter.md"
    subprocess.run([str(BIN / "jupytext"), "--quiet", "--to", "ipynb", "-o", str(notebook), str(source)], check=True)
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", str(notebook)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=book)


@pytest.mark.parametrize("measured, should_pass", [(1.05, True), (1.5, False)])
def test_failing_assert_fails_build_and_nbval(tmp_path, measured, should_pass):
    book = make_book(tmp_path / "book", measured)
    built, tested = build(book), nbval(book)
    assert (built.returncode == 0) == should_pass, built.stdout[-3000:] + built.stderr[-3000:]
    assert (tested.returncode == 0) == should_pass, tested.stdout[-3000:]
    if not should_pass:
        assert "theory and simulation disagree" in built.stdout + built.stderr
        assert "theory and simulation disagree" in tested.stdout
