"""web/src/api/schema.d.ts is generated from contracts/openapi.json: a stale copy fails here."""

from __future__ import annotations

import subprocess

from tests.e2e.console.conftest import WEB_DIR


def test_the_console_types_match_the_openapi_document():
    # openapi-typescript --check regenerates in memory and compares (about a second).
    result = subprocess.run(
        ["npm", "run", "--silent", "check:types"], cwd=WEB_DIR, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"run `npm run gen:types` in web/ and commit:\n{result.stdout}{result.stderr}"
