"""A command run from another shell under STAGE=local (`python -m chalicelib.cli ...`): what it
leaves unset points at `make run`'s fakes and database, so it never reaches Meta or AWS.

chalicelib/cli.py imports this lazily, only under STAGE=local; deployed code never imports
devstack (the package does not ship it).
"""

from __future__ import annotations

import os
from pathlib import Path

from devstack import aws
from devstack.fake_graph import GRAPH_VERSION
from devstack.stack import LOCAL_ENV_DEFAULTS, PROJECT_DIR


def local_data_dir() -> Path:
    """make run's data (pgdata/, s3/): LOCAL_DATA_DIR, or .local in the project."""
    return Path(os.environ.get("LOCAL_DATA_DIR") or PROJECT_DIR / ".local")


def use_local_stack_defaults(database: bool = True) -> None:
    """Fill what is unset with make run's ports and names (FAKE_GRAPH_PORT, WS_MANAGEMENT_PORT,
    MOTO_PORT if they were moved). `database`: when DATABASE_URL is unset, start (or join) the
    embedded PostgreSQL in make run's data directory and set DATABASE_URL to it."""
    for key, value in LOCAL_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    graph = f"http://127.0.0.1:{os.environ.get('FAKE_GRAPH_PORT', '5002')}/{GRAPH_VERSION}"
    os.environ.setdefault("WHATSAPP_GRAPH_URL", graph)
    # The live events of a command reach make run's browsers through its local gateway.
    os.environ.setdefault("WS_MANAGEMENT_URL", f"http://127.0.0.1:{os.environ.get('WS_MANAGEMENT_PORT', '8002')}")
    if not os.environ.get("AWS_ENDPOINT_URL"):
        endpoint = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5001')}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        aws.use_fake_credentials()
        os.environ.setdefault("MEDIA_BUCKET", aws.LOCAL_BUCKET)
        os.environ.setdefault("MEDIA_QUEUE_URL", aws.local_queue_url(endpoint))
    if database and not os.environ.get("DATABASE_URL"):
        from devstack.embedded_pg import ensure_embedded_database

        ensure_embedded_database(str(local_data_dir() / "pgdata"))  # sets DATABASE_URL
    from chalicelib.config import reset_settings

    reset_settings()
