"""The report of ``make mutation``: the score per module and the mutants that survived.

Reads what ``mutmut run`` left in ``mutants/`` (one ``<module>.py.meta`` per mutated module,
each mutant's exit code), so the modules are whatever ``[tool.mutmut]`` in pyproject.toml
names. The score is killed / (killed + survived + no tests + suspicious): a mutant that no
selected test executes counts against its module, a timeout counts as killed.
``--fail-under 90`` exits 1 when a module scores lower.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

#: mutmut's exit codes (mutmut/stats.py): 1 and 3 a test failed, 0 every test passed,
#: 5 and 33 no test ran, 24/36/152/255 and -24 a timeout, 37 caught by the type checker.
KILLED = {1, 3, 24, 36, 37, 152, 255, -24}
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


def kind(exit_code: int | None) -> str:
    if exit_code is None:
        return "not checked"
    if exit_code in KILLED:
        return "killed"
    if exit_code in SURVIVED:
        return "survived"
    if exit_code in NO_TESTS:
        return "no tests"
    if exit_code in SKIPPED:
        return "skipped"
    return "suspicious"


def report(root: Path, fail_under: float | None) -> int:
    metas = sorted(root.glob("**/*.py.meta"))
    if not metas:
        print(f"no mutmut results under {root}/: run `make mutation`", file=sys.stderr)
        return 2
    rows: list[tuple[str, Counter[str], float]] = []
    survivors: list[tuple[str, str]] = []
    for meta in metas:
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = str(meta.relative_to(root)).removesuffix(".meta")
        counts = Counter(kind(code) for code in codes.values())
        judged = counts["killed"] + counts["survived"] + counts["no tests"] + counts["suspicious"]
        rows.append((module, counts, 100.0 * counts["killed"] / judged if judged else 100.0))
        survivors += [
            (name, kind(code))
            for name, code in sorted(codes.items())
            if kind(code) not in ("killed", "not checked")
        ]
    width = max(len(module) for module, _, _ in rows)
    print(f"\n{'module':<{width}}  mutants  killed  survived  no tests  other   score")
    total: Counter[str] = Counter()
    for module, counts, score in rows:
        total.update(counts)
        other = counts["suspicious"] + counts["skipped"] + counts["not checked"]
        print(
            f"{module:<{width}}  {sum(counts.values()):7}  {counts['killed']:6}  "
            f"{counts['survived']:8}  {counts['no tests']:8}  {other:5}  {score:5.1f} %"
        )
    judged = sum(total[k] for k in ("killed", "survived", "no tests", "suspicious"))
    other = total["suspicious"] + total["skipped"] + total["not checked"]
    score = 100.0 * total["killed"] / judged if judged else 100.0
    print(
        f"{'all':<{width}}  {sum(total.values()):7}  {total['killed']:6}  "
        f"{total['survived']:8}  {total['no tests']:8}  {other:5}  {score:5.1f} %"
    )
    print(f"\nsurviving mutants ({len(survivors)}; `mutmut show NAME` prints the change):")
    for name, what in survivors:
        print(f"  {name}: {what}")
    low = [module for module, _, score in rows if fail_under is not None and score < fail_under]
    if low:
        print(f"\nunder {fail_under:g} %: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--fail-under", type=float, default=None)
    args = parser.parse_args()
    sys.exit(report(args.mutants, args.fail_under))


if __name__ == "__main__":
    main()
