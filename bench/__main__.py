"""Run every benchmark case and print one table: ``python -m bench [--quick] [--markdown]``."""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys

from bench.common import Result


def _modules(only: list[str]) -> list[str]:
    names = sorted(p.stem for p in pathlib.Path(__file__).parent.glob("bench_*.py"))
    return [n for n in names if not only or any(o in n for o in only)]


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        ok = {None: "", True: "yes", False: "NO"}[r.ok]
        rows.append([r.case, f"{_fmt(r.value)} {r.unit}", r.baseline,
                     f"{_fmt(r.baseline_value)} {r.unit}" if r.baseline_value is not None else "",
                     _fmt(r.ratio), r.target, ok])
    return rows


HEADER = ["case", "value", "baseline", "baseline value", "ratio", "target", "met"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("only", nargs="*", help="run only modules whose name contains this")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for name in _modules(args.only):
        module = importlib.import_module(f"bench.{name}")
        print(f"# running {name} ...", file=sys.stderr, flush=True)
        results.extend(module.run(quick=args.quick))
    rows = _rows(results)
    if args.markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(HEADER)]
        print("  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
