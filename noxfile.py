"""Development tasks: ``nox`` runs the default sessions (tests, lint, typecheck, docs)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
# uv creates environments much faster when it is installed; plain virtualenv otherwise.
nox.options.default_venv_backend = "uv|virtualenv"


# Every CPython the package supports; a missing interpreter is skipped, not an error.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite under coverage, warnings as errors, on each supported Python."""
    session.install("-e", ".[tests]")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--fail-under=90")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff>=0.17,<0.18")  # new ruff releases add rules: upgrade on purpose
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package and the tests with mypy --strict."""
    session.install("-e", ".[typing]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site in strict mode."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def stress(session: nox.Session) -> None:
    """Run the property-based fault suite with many more examples (not a default session)."""
    session.install("-e", ".[tests]")
    session.run("pytest", "-m", "property", "--hypothesis-profile", "stress", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks, print their table and update docs/performance.* (not a default session).

    ``nox -s bench -- --quick`` is a smoke run that leaves the docs alone.
    """
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
