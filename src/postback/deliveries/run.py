"""`postback worker`: a standalone delivery worker process with a clean SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from postback.config import Settings
from postback.deliveries.worker import DeliveryWorker
from postback.kit.db import Database
from postback.kit.logs import setup_logging


def run_worker(settings: Settings, name: str | None = None) -> int:
    """Run until SIGTERM or SIGINT; the batch in hand is finished and stored first.
    Returns how many deliveries this process delivered."""
    setup_logging(settings)
    db = Database(settings)

    async def main() -> int:
        worker = DeliveryWorker(settings, db, name=name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()
        return worker.delivered

    try:
        return uvloop.run(main())
    finally:
        db.dispose()
