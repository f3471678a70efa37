"""The ALOHUB_* variables: one table, read by the session, named by its errors."""

from __future__ import annotations

import pickle

import pytest

from alohub_async import AlohubError, AlohubSession, MissingCredentialsError
from alohub_async._environment import ENV_ACCESS_TOKEN, ENV_API_KEY


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    monkeypatch.delenv(ENV_ACCESS_TOKEN, raising=False)


def test_missing_both_names_both_parameters_and_variables() -> None:
    """With neither credential, one error names both, and is still a ValueError."""
    with pytest.raises(MissingCredentialsError) as caught:
        AlohubSession()
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, AlohubError)
    assert error.missing == ("api_key", "access_token")
    for text in ("api_key=", "access_token=", f"${ENV_API_KEY}", f"${ENV_ACCESS_TOKEN}"):
        assert text in str(error)


@pytest.mark.parametrize("missing", ["api_key", "access_token"])
def test_missing_one_names_only_that_one(missing: str) -> None:
    """An empty string counts as missing too; the other credential is not mentioned."""
    key, token = ("", "t") if missing == "api_key" else ("k", "")
    with pytest.raises(MissingCredentialsError) as caught:
        AlohubSession(key, token)
    assert caught.value.missing == (missing,)
    assert f"{missing}=" in str(caught.value)
    assert " and " not in str(caught.value)


def test_the_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names in the table are the ones the session falls back to."""
    monkeypatch.setenv(ENV_API_KEY, "env-key")
    monkeypatch.setenv(ENV_ACCESS_TOKEN, "env-token")
    AlohubSession()


def test_the_error_survives_pickling() -> None:
    """Like every AlohubError, it crosses process boundaries with its attributes."""
    error = pickle.loads(pickle.dumps(MissingCredentialsError(("api_key",))))
    assert isinstance(error, MissingCredentialsError)
    assert error.missing == ("api_key",)
    assert str(error) == str(MissingCredentialsError(("api_key",)))
