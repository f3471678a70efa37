"""The project's metadata agrees with itself: licence text, supported Pythons, changelog.

Each check is a small function returning the problems it finds. The tests run it on the
repository's files, and on broken copies, so every check is shown able to fail.
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nox
import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT: dict[str, Any] = nox.project.load_toml(ROOT / "pyproject.toml")

#: The title line of each licence's text, by SPDX identifier, and a sentence of its grant.
LICENSE_TEXTS = {
    "MIT": (
        "MIT License",
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
    ),
}
CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)$")


def license_problems(spdx: str, text: str, authors: Iterable[str]) -> list[str]:
    """What is wrong with a LICENSE ``text`` for the licence ``spdx`` and its ``authors``."""
    if spdx not in LICENSE_TEXTS:
        return [f"no known text for the licence {spdx!r}"]
    title, grant = LICENSE_TEXTS[spdx]
    lines = text.splitlines()
    problems = []
    if not lines or lines[0].strip() != title:
        problems.append(f"LICENSE does not start with {title!r}")
    if grant not in " ".join(text.split()):
        problems.append(f"LICENSE lacks the {spdx} grant")
    copyright_line = next((line for line in lines if line.startswith("Copyright")), "")
    problems += [
        f"LICENSE's copyright line does not name {name!r}"
        for name in authors
        if name not in copyright_line
    ]
    return problems


def classifier_versions(classifiers: Iterable[str]) -> list[str]:
    """The ``3.X`` versions the ``Programming Language :: Python :: 3.X`` classifiers list."""
    return [m[1] for c in classifiers if (m := CLASSIFIER.match(c))]


def python_problems(versions: list[str], requires_python: str) -> list[str]:
    """What is wrong with the classifiers' ``versions`` against ``requires-python``.

    They must be consecutive minor versions, all allowed, and start at the lowest one
    allowed: a version ``requires-python`` admits but no classifier lists is never tested.
    """
    if not versions:
        return ["no Programming Language :: Python :: 3.X classifier"]
    spec = SpecifierSet(requires_python)
    minors = [int(v.split(".")[1]) for v in versions]
    problems = []
    if minors != list(range(minors[0], minors[0] + len(minors))):
        problems.append(f"classifier versions are not consecutive minor versions: {versions}")
    problems += [f"requires-python {spec} excludes {v}" for v in versions if v not in spec]
    below = f"3.{min(minors) - 1}"
    if below in spec:
        problems.append(f"requires-python {spec} admits {below}, which no classifier lists")
    return problems


def unreleased_problems(changelog: str) -> list[str]:
    """What is wrong with a Keep a Changelog text's Unreleased section (it comes first)."""
    headings = re.findall(r"^## (.*)$", changelog, re.M)
    if "[Unreleased]" not in headings:
        return ["no '## [Unreleased]' section"]
    if headings[0] != "[Unreleased]":
        return [f"'## [Unreleased]' is not the first section: {headings[0]!r} is"]
    return []


# --- the repository -------------------------------------------------------------------------


def test_license_file_matches_pyproject() -> None:
    """LICENSE holds the text of the licence pyproject declares, naming its authors."""
    project = PYPROJECT["project"]
    authors = [author["name"] for author in project["authors"]]
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert license_problems(project["license"], text, authors) == []


def test_classifiers_cover_requires_python() -> None:
    """The per-version classifiers list every Python requires-python admits, from its lowest."""
    project = PYPROJECT["project"]
    versions = classifier_versions(project["classifiers"])
    assert python_problems(versions, project["requires-python"]) == []


def test_nox_tests_every_classifier_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """noxfile.py's tests session runs on exactly the classifiers' Pythons."""
    monkeypatch.chdir(ROOT)  # nox runs noxfile.py from its directory
    noxfile = runpy.run_path(str(ROOT / "noxfile.py"))
    versions = classifier_versions(PYPROJECT["project"]["classifiers"])
    assert noxfile["tests"].python == versions


def test_changelog_starts_with_unreleased() -> None:
    """CHANGELOG.md opens with an Unreleased section for the next release's notes."""
    assert unreleased_problems((ROOT / "CHANGELOG.md").read_text("utf-8")) == []


# --- the checks fail on broken copies -------------------------------------------------------

MIT_TEXT = (ROOT / "LICENSE").read_text("utf-8")


@pytest.mark.parametrize(
    ("spdx", "text", "authors", "problem"),
    [
        ("Apache-2.0", MIT_TEXT, [], "no known text"),
        ("MIT", MIT_TEXT.replace("MIT License", "BSD License", 1), [], "does not start"),
        ("MIT", MIT_TEXT.replace("free of charge", "for a fee"), [], "lacks the MIT grant"),
        ("MIT", MIT_TEXT, ["Someone Else"], "does not name 'Someone Else'"),
        ("MIT", "", [], "does not start"),
    ],
)
def test_license_check_catches(spdx: str, text: str, authors: list[str], problem: str) -> None:
    assert any(problem in p for p in license_problems(spdx, text, authors))


@pytest.mark.parametrize(
    ("versions", "requires_python", "problem"),
    [
        ([], ">=3.10", "no Programming Language"),
        (["3.10", "3.12"], ">=3.10", "not consecutive"),
        (["3.9", "3.10"], ">=3.10", "excludes 3.9"),
        (["3.11", "3.12"], ">=3.10", "admits 3.10"),
    ],
)
def test_python_check_catches(versions: list[str], requires_python: str, problem: str) -> None:
    assert any(problem in p for p in python_problems(versions, requires_python))


def test_classifier_versions_ignores_other_classifiers() -> None:
    classifiers = [
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: Implementation :: CPython",
    ]
    assert classifier_versions(classifiers) == ["3.12"]


@pytest.mark.parametrize(
    ("changelog", "problem"),
    [
        ("# Changelog\n\n## [0.1.0] - 2026-01-01\n", "no '## [Unreleased]'"),
        ("# Changelog\n\n## Unreleased\n", "no '## [Unreleased]'"),
        ("## [0.1.0] - 2026-01-01\n\n## [Unreleased]\n", "not the first section"),
    ],
)
def test_changelog_check_catches(changelog: str, problem: str) -> None:
    assert any(problem in p for p in unreleased_problems(changelog))
