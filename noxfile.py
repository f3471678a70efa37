"""Development tasks: ``nox`` runs the default sessions.

They are tests, tests_no_orjson, lint, typecheck and docs; stress and bench run on request.

The tools each session installs are the PEP 735 dependency groups of ``pyproject.toml``
(``[dependency-groups]``), not extras of the published package.
"""

from __future__ import annotations

import shutil
import subprocess

import nox

# nox.project.dependency_groups arrived in 2025.02.09; README's `pip install nox` gets the newest.
nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "tests_no_orjson", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
# A Python that is not installed is skipped, never downloaded (nox would fetch a standalone
# build with uv otherwise): the run tests what the machine has, and needs no network for it.
nox.options.download_python = "never"
# uv creates environments much faster when it is installed; plain virtualenv otherwise.
nox.options.default_venv_backend = "uv|virtualenv"

# nox.project.load_toml reads with tomllib, or with tomli where nox itself runs on 3.10 (nox
# depends on tomli there), so this works whichever Python runs nox.
PYPROJECT = nox.project.load_toml("pyproject.toml")

# Every CPython the package supports, read from the "Programming Language :: Python :: 3.X"
# classifiers so the two cannot drift apart; a missing interpreter is skipped, not an error.
PYTHONS = nox.project.python_versions(PYPROJECT)


def group(name: str) -> tuple[str, ...]:
    """The requirements of one ``[dependency-groups]`` entry, its included groups resolved."""
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite, warnings as errors, in parallel workers, on each supported Python.

    Coverage (at least 90%) is measured on the newest Python nox finds: measuring it on
    every Python would cost a third more time for the same figure. It follows the xdist
    workers and the CLI subprocesses (``patch = ["subprocess"]`` in pyproject.toml).
    """
    session.install("-e", ".[orjson]", *group("tests"))
    if session.python != _newest_found():
        session.run("pytest", "-n", "auto", *session.posargs)
        return
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-n", "auto", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report", "--fail-under=90")


def _newest_found() -> str | None:
    """The newest of `PYTHONS` that runs here, where coverage is measured.

    Being on PATH is not enough: a pyenv shim for a version not selected is on PATH but
    fails, and nox then skips that session; coverage must move to the next version down.
    """
    for version in reversed(PYTHONS):
        path = shutil.which(f"python{version}")
        if path and subprocess.run([path, "-c", ""], capture_output=True).returncode == 0:  # noqa: S603
            return version
    return None


# orjson changes only three things: how decode_json reads every response body, how the
# sync stores encode records and their timestamps, and how an export spells datetimes.
# These files test them directly (odd, hostile and deeply nested bodies, huge integers,
# offsets in seconds) and end to end: every envelope and vocabulary the fake serves, walks,
# pagination, keep_raw, the converter and the stores.
# Under a minute; the rest of the suite would take the same decoding path again for minutes.
# Coverage is not measured here: a subset cannot reach the 90% the full runs require.
NO_ORJSON_TESTS = [
    "tests/test_protocol.py",
    "tests/test_hostile_bodies.py",
    "tests/test_body_errors.py",
    "tests/test_converter.py",
    "tests/test_keep_raw.py",
    "tests/test_session.py",
    "tests/test_pagination.py",
    "tests/test_walk_integrity.py",
    "tests/test_fake_server.py",
    "tests/test_serialization.py",
    "tests/test_sync_store.py",
    "tests/test_sync_engine.py",
]


@nox.session
def tests_no_orjson(session: nox.Session) -> None:
    """Run the tests of JSON decoding and encoding without the optional orjson extra.

    The default install has no orjson, so its standard-library path must work on its own,
    not only when a test switches orjson off. ``nox -s tests_no_orjson -- tests`` runs the
    whole suite this way.
    """
    session.install("-e", ".", *group("tests"))
    # Fails if a test dependency ever pulls orjson in, which would make this run pointless.
    session.run("python", "-c", "import importlib.util as u; assert not u.find_spec('orjson')")
    session.run("pytest", "-n", "auto", *(session.posargs or NO_ORJSON_TESTS))


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package and the tests with mypy --strict."""
    # The orjson extra: mypy follows the package's optional `import orjson`.
    session.install("-e", ".[orjson]", *group("typing"))
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site in strict mode."""
    session.install("-e", ".", *group("docs"))
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def stress(session: nox.Session) -> None:
    """Run the property-based fault suite with many more examples (not a default session)."""
    session.install("-e", ".[orjson]", *group("tests"))
    session.run("pytest", "-m", "property", "--hypothesis-profile", "stress", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks, print their table and update docs/performance.* (not a default session).

    ``nox -s bench -- --quick`` is a smoke run that leaves the docs alone.
    """
    session.install("-e", ".", *group("bench"))
    session.run("python", "-m", "benchmarks", *session.posargs)
