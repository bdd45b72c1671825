"""`make dev` / `python -m dataforge_assets.demo.dev [--port N]`: `dg dev` with the demo's sources in place.

A fresh dev instance runs every schedule and sensor, so each must find its source: the flight files and the
reference database are set up as `make demo` does, and the weather replay server (the demo's stand-in for
the weather API) runs beside `dg dev` on a free port, handed to the weather source in
DATAFORGE_WEATHER_API_URL. Without them the hourly `weather_schedule` would fail (and alert) every hour.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.__main__ import WEATHER_API_URL_ENV
from dataforge_assets.demo.setup import set_up
from dataforge_assets.lib.environment import current_environment

DEFAULT_PORT = 3000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DATAFORGE_UI_PORT", DEFAULT_PORT)))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    set_up(current_environment(), months=list(range(1, 13)))
    dg = Path(sys.executable).with_name("dg")
    with replay_server.running() as server:
        print(f"weather replay API (demo stand-in for a SaaS API) on {server.url}", flush=True)
        env = {**os.environ, WEATHER_API_URL_ENV: server.url, "VIRTUAL_ENV": sys.prefix}
        try:
            subprocess.run(
                [str(dg), "dev", "--host", args.host, "--port", str(args.port)], env=env, check=False
            )
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
