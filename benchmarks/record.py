"""Run the benchmarks and record their results in docs/benchmarks.md.

Each ``benchmarks/bench_*.py`` runs in its own process, one after another,
with its defaults. A script that can write markdown (``--markdown PATH``)
contributes that; the others contribute what they print. Each result
replaces its own section of the page, between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``, headed by the command, the date and the machine;
sections of benchmarks not run are kept. A benchmark that fails keeps its
old section and makes this script exit 1.

    python benchmarks/record.py                 # all of them (what `nox -s bench` runs)
    python benchmarks/record.py lifecycle expiry
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"


def _scripts(names: list[str]) -> list[Path]:
    found = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if not names:
        return found
    by_name = {path.stem.removeprefix("bench_"): path for path in found}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(unknown)} (have {', '.join(by_name)})")
    return [by_name[name] for name in names]


def _machine() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load} when it started"
    )


def _run(script: Path) -> tuple[int, str]:
    """Run *script*, echoing its output; return its exit code and its section body."""
    writes_markdown = '"--markdown"' in script.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="rindle-bench-") as tmp:
        markdown = Path(tmp) / "result.md"
        argv = [sys.executable, str(script)]
        if writes_markdown:
            argv += ["--markdown", str(markdown)]
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            sys.stdout.write(line)
            lines.append(line)
        code = process.wait()
        if writes_markdown and markdown.exists():
            return code, markdown.read_text(encoding="utf-8").strip()
    return code, "```text\n" + "".join(lines).strip() + "\n```"


def _docstring(script: Path) -> tuple[str, str]:
    """The benchmark's title (its docstring's first line) and what it measures
    (the rest, without the ``Run:`` paragraph), as markdown."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or script.stem
    title, _, rest = doc.partition("\n")
    paragraphs = [
        p for p in rest.strip().split("\n\n") if not p.lstrip().startswith(("Run:", "python "))
    ]
    body = "\n\n".join(paragraphs).replace("``", "`").replace("\\ ", "")
    return title.strip().rstrip("."), body


def _embed_plots(body: str) -> str:
    """``Plot: docs/img/NAME`` lines become the image itself."""
    return re.sub(
        r"^Plot: docs/(img/\S+)$", lambda m: f"![{m.group(1)}]({m.group(1)})", body, flags=re.M
    )


def _section(script: Path, body: str, started: dt.datetime, machine: str) -> str:
    name = script.stem.removeprefix("bench_")
    title, measured = _docstring(script)
    first, _, rest = body.partition("\n")
    if first.startswith("#"):  # the benchmark's own heading becomes the section's
        title, body = first.lstrip("#").strip(), rest.strip()
    return (
        f"<!-- bench:{name} -->\n"
        f"### {title}\n\n"
        f"Command: `python benchmarks/{script.name}` (defaults), recorded by "
        f"`nox -s bench` on {started:%Y-%m-%d %H:%M} UTC; machine: {machine}.\n\n"
        f"{measured}\n\n"
        f"{_embed_plots(body)}\n"
        f"<!-- /bench:{name} -->"
    )


def _replace(page: str, name: str, section: str) -> str:
    tag = re.escape(name)
    pattern = re.compile(rf"<!-- bench:{tag} -->.*?<!-- /bench:{tag} -->", re.S)
    if pattern.search(page):
        return pattern.sub(lambda _: section, page)
    return page.rstrip("\n") + "\n\n" + section + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (bench_NAME.py); default all")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page to update")
    args = parser.parse_args()
    failed = []
    for script in _scripts(args.names):
        started, machine = dt.datetime.now(dt.UTC), _machine()
        print(f"== {script.name}", flush=True)
        code, body = _run(script)
        if code != 0:
            failed.append(script.name)
            print(f"== {script.name} failed (exit {code}): its section is kept", flush=True)
            continue
        page = args.page.read_text(encoding="utf-8")
        name = script.stem.removeprefix("bench_")
        args.page.write_text(_replace(page, name, _section(script, body, started, machine)))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
