"""`make run`: start the local stack, print where it listens, stop everything on Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from devstack.stack import PROJECT_DIR, LocalStack


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", 5001)))
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    # One line per message the fake WhatsApp "sends", so a developer sees what left.
    fake_log = logging.getLogger("crm.fake_whatsapp")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("fake WhatsApp: %(message)s"))
    fake_log.addHandler(handler)
    fake_log.setLevel(logging.INFO)
    fake_log.propagate = False

    stack = LocalStack(
        host=args.host,
        api_port=args.port,
        moto_port=args.moto_port,
        data_dir=os.environ.get("LOCAL_DATA_DIR") or str(PROJECT_DIR / ".local"),
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # Explicit, because a shell starting us in the background may have set SIGINT to "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
        print("crm-inbox local stack is up:", flush=True)
        for line in stack.describe():
            print("  " + line, flush=True)
        print("Ctrl-C stops everything.", flush=True)
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not interrupt the clean shutdown of what was started.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("stopping...", flush=True)
        stack.stop()
        from devstack.embedded_pg import stop_embedded_database

        stop_embedded_database()


if __name__ == "__main__":
    main()
