"""Run the offline model standalone: ``python -m agents.offline [--port 8788]``."""

from __future__ import annotations

import argparse
import asyncio

from agents.offline.server import OfflineModel


async def _serve(port: int) -> None:
    model = await OfflineModel(port=port).start()
    print(f"offline model listening on {model.base_url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8788)
    asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
