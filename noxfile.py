"""The version matrix (``make matrix``): every supported interpreter, the lowest declared
dependency versions, and the built package installed on its own.

On a developer's machine a missing interpreter is skipped; with ``CI`` set it is an error, so CI
cannot pass on fewer versions than it claims.
"""

from __future__ import annotations

import os
import pathlib
import sys

import nox
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = pathlib.Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
OLDEST, NEWEST = PYTHONS[0], PYTHONS[-1]

nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lowest", "package"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite on one interpreter."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


def floors() -> list[str]:
    """``name==version`` for every direct dependency, at the lowest version pyproject allows."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = []
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(text)
        lowest = [s.version for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        if not lowest:
            raise ValueError(f"{text!r} declares no lower bound")
        pins.append(f"{requirement.name}=={min(lowest, key=_version_key)}")
    return pins


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


@nox.session(python=OLDEST)
def lowest(session: nox.Session) -> None:
    """The suite against the lowest version of every direct dependency, on the oldest Python."""
    constraints = pathlib.Path(session.create_tmp()) / "floors.txt"
    constraints.write_text("\n".join(floors()) + "\n")
    session.install("-e", ".[dev]", "-c", str(constraints))
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("pytest", *session.posargs)


@nox.session(python=NEWEST)
def package(session: nox.Session) -> None:
    """Build sdist and wheel, check their metadata renders, install the wheel alone in a clean
    virtualenv and run the demo from it (catches files missing from the wheel)."""
    session.install("build", "twine")
    tmp = pathlib.Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    built = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *built)
    wheel = next(path for path in built if path.endswith(".whl"))
    clean = tmp / "clean"
    session.run("python", "-m", "venv", "--clear", str(clean))
    python = str(clean / "bin" / "python")
    session.run(python, "-m", "pip", "install", "--quiet", wheel, external=True)
    with session.chdir(tmp):  # away from the source tree, so only the wheel can be imported
        session.run(
            python,
            "-c",
            "import pathlib, epay_async; "
            "root = pathlib.Path(epay_async.__file__).parent; "
            "assert 'site-packages' in str(root), root; "
            "assert (root / 'py.typed').is_file(), 'py.typed is missing from the wheel'; "
            "assert (root / 'testing' / '__init__.py').is_file(); "
            "print('wheel ok:', epay_async.__version__)",
            external=True,
        )
        session.run(python, "-m", "epay_async", "demo", external=True)
