"""The environment variables alohub_async reads, named once for the session and the CLI.

Also the base URL used when neither ``base_url=`` nor ``$ALOHUB_BASE_URL`` gives one. This
module imports nothing, so the command line can name these in its ``--help`` without
loading the client.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CREDENTIALS", "DEFAULT_BASE_URL", "ENV_ACCESS_TOKEN", "ENV_API_KEY", "ENV_BASE_URL"]

DEFAULT_BASE_URL: Final = "https://app.alohub.vn:9909"
"""The API's address when ``base_url=`` and ``$ALOHUB_BASE_URL`` give none."""

ENV_API_KEY: Final = "ALOHUB_API_KEY"
ENV_ACCESS_TOKEN: Final = "ALOHUB_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_BASE_URL: Final = "ALOHUB_BASE_URL"

CREDENTIALS: Final = (
    ("api_key", "an API key", ENV_API_KEY),
    ("access_token", "an access token", ENV_ACCESS_TOKEN),
)
"""Each credential the session needs: its parameter name, how messages call it, and the environment
variable it falls back to."""
