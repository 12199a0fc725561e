"""`python -m emotalk.bench`: run every benchmark module and write results as JSON and a Markdown table."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import pkgutil
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

import emotalk.benchmarks

log = logging.getLogger("emotalk.bench")


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(emotalk.benchmarks.__path__) if not m.name.startswith("_"))


def meets(value: float, target: str | None) -> str:
    """'yes'/'no' for a target like '>= 100' or '<= 1500'; '' when there is none."""
    m = re.fullmatch(r"\s*(>=|<=|>|<)\s*([\d.]+)\s*", target or "")
    if not m or not isinstance(value, int | float):
        return ""
    op, ref = m.group(1), float(m.group(2))
    ok = {">=": value >= ref, "<=": value <= ref, ">": value > ref, "<": value < ref}[op]
    return "yes" if ok else "no"


def to_markdown(rows: list[dict], env: dict) -> str:
    lines = [
        f"# emotalk benchmarks ({env['date']}, {env['cpu_count']} cores, torch {env['torch']}, {env['commit']})",
        "",
        "| benchmark | measurement | value | unit | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        v = r.get("value")
        vs = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(
            f"| {r['bench']} | {r['name']} | {vs} | {r.get('unit', '')} | {r.get('target', '')} | "
            f"{meets(v, r.get('target'))} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--only", nargs="*", help="benchmark modules to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run of the benchmarks)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    env = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "commit": commit,
    }
    rows: list[dict] = []
    failed = []
    for name in args.only or discover():
        log.info("benchmark %s ...", name)
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"emotalk.benchmarks.{name}")
            for r in mod.run(quick=args.quick):
                rows.append({"bench": name, **r})
        except Exception:  # a broken benchmark must not hide the others' numbers
            failed.append(name)
            log.error("benchmark %s failed:\n%s", name, traceback.format_exc())
        log.info("benchmark %s took %.1f s", name, time.perf_counter() - t0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"env": env, "rows": rows, "failed": failed}, indent=2))
    md = to_markdown(rows, env)
    (args.out / "results.md").write_text(md)
    print(md)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
