"""Rerun every chapter's checks with its seeds shifted, and record which assert cells fail.

Each chapter that takes its seeds through :func:`snnmath.book.seed` is executed (cwd ``book/``, as the
build does) with ``SNNMATH_SEED_SHIFT`` = 1, 2, …, ``--shifts``; execution goes on past a failing
cell, and every cell that raised is recorded with its first line and the error, together with the
values the chapter glues into its text (as the text shows them), so that the spread of a measured
error over seeds can be read from the runs. Each (chapter, shift) is written to
``OUT/<chapter>-shift<k>.json`` as soon as it finishes, so a rerun resumes where the last stopped
(it takes hours: about two minutes per chapter and shift on two cores). Chapters that do not use
:func:`snnmath.book.seed` are listed as not shiftable and skipped: a shift would rerun them
unchanged (the introduction and the page of what holds shift their seeds inside
:mod:`snnmath.claims`, but assert nothing about a check's outcome, so a rerun records nothing).
``OUT/summary.json`` counts, per chapter, the runs, the failing cells, and the runs made before the
chapter's last change (``stale``: rerun them by deleting their files).

    python benchmarks/seed_shifts.py --out results/seed_shifts --shifts 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from snnmath.book import SEED_SHIFT

ROOT = Path(__file__).resolve().parents[1]


def shiftable(chapter: Path) -> bool:
    """Whether the chapter takes its seeds through ``book.seed``."""
    return "book.seed(" in chapter.read_text(encoding="utf-8")


def run_chapter(chapter: Path, shift: int) -> dict:
    """Execute one chapter with the shift; every cell that raised, with its error."""
    notebook = jupytext.read(chapter)
    os.environ[SEED_SHIFT] = str(shift)
    started = time.time()
    NotebookClient(notebook, timeout=3600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(chapter.parent)}}).execute()
    failures, glued = [], {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                failures.append(dict(cell=index, first_line=cell.source.splitlines()[0] if cell.source else "",
                                     error=output["ename"], message=output["evalue"][:2000]))
            record = output.get("metadata", {}).get("scrapbook")
            if record:  # a glued value, as the chapter's text shows it
                glued[record["name"]] = output.get("data", {}).get("application/papermill.record/text/plain")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", str(chapter)], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return dict(chapter=chapter.stem, shift=shift, seconds=round(time.time() - started, 1), failures=failures,
                glued=glued, commit=commit, chapter_modified=bool(dirty),
                finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def changed_since(chapter: Path, commit: str) -> bool:
    """Whether the chapter's file differs now from its state at ``commit``."""
    return subprocess.run(["git", "diff", "--quiet", commit, "--", str(chapter)], cwd=ROOT).returncode != 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of per-(chapter, shift) JSON results")
    parser.add_argument("--shifts", type=int, default=20, help="shifts 1..SHIFTS (default 20)")
    parser.add_argument("--chapters", nargs="*", default=None, help="chapter names (default: every chapter)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chapters = sorted((ROOT / "book").glob("*.md"))
    chapters = [c for c in chapters if "kernelspec:" in c.read_text(encoding="utf-8")
                and (args.chapters is None or c.stem in args.chapters)]
    skipped = [c.stem for c in chapters if not shiftable(c)]
    for shift in range(1, args.shifts + 1):
        for chapter in (c for c in chapters if shiftable(c)):
            target = args.out / f"{chapter.stem}-shift{shift}.json"
            if target.exists():
                continue
            result = run_chapter(chapter, shift)
            partial = target.with_suffix(".tmp")
            partial.write_text(json.dumps(result, indent=1) + "\n")
            partial.replace(target)
            print(f"{chapter.stem} shift {shift}: {len(result['failures'])} failing cells, {result['seconds']} s",
                  flush=True)
    results = [json.loads(p.read_text()) for p in sorted(args.out.glob("*-shift*.json"))]
    summary = {"not_shiftable": skipped, "runs": len(results), "chapters": {}}
    for r in results:
        entry = summary["chapters"].setdefault(r["chapter"], {"runs": 0, "failures": 0, "stale": []})
        entry["runs"] += 1
        entry["failures"] += len(r["failures"])
        if r["chapter_modified"] or changed_since(ROOT / "book" / f"{r['chapter']}.md", r["commit"]):
            entry["stale"].append(r["shift"])
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
