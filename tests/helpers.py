"""Constants and small helpers shared by the test modules."""

from __future__ import annotations

API_KEY = "test-api-key-SECRET"
ACCESS_TOKEN = "test-access-token-SECRET"
BASE_URL = "https://alohub.test"
