"""The local stack for end-to-end tests: started on free ports, stopped and its environment
restored afterwards (it exports DATABASE_URL, AWS_ENDPOINT_URL, MEDIA_* ... for the app)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running_stack(**kwargs) -> Iterator:
    """A started `LocalStack(api_port=0, moto_port=0, **kwargs)`; stopped even if start fails."""
    from chalicelib.config import reset_settings
    from devstack.stack import LocalStack

    saved = dict(os.environ)
    stack = LocalStack(api_port=0, moto_port=0, **kwargs)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()
