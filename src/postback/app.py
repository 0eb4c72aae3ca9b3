"""The ASGI application: hot paths as raw ASGI, everything else through FastAPI.

/c/{key}                     click redirect (clicks/redirect.py)
/lp                          a lander's call-to-action, on to the offer (clicks/lander.py)
/postback, /postback/{key}   inbound postbacks (conversions/receiver.py)
/name/.../at, /code/.../at   Adsterra-compatible postback paths
/pixel, /pixel.js            the conversion pixel and its snippet (conversions/pixel_receiver.py)
/healthz, /readyz            liveness and readiness
everything else              the admin API and its docs (api.py)
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from postback.api import create_api
from postback.api_keys.service import bootstrap_admin_key
from postback.clicks.lander import handle_lander_click
from postback.clicks.redirect import handle_click
from postback.clicks.visitor import warm_up
from postback.config import Settings, get_settings
from postback.conversions.pixel_receiver import handle_pixel, handle_snippet
from postback.conversions.receiver import handle_postback, is_postback_path
from postback.deliveries.worker import DeliveryWorker
from postback.kit.asgi import Receive, Scope, Send, send_json
from postback.kit.logs import setup_logging
from postback.reports.aggregator import Aggregator
from postback.runtime import Runtime

log = logging.getLogger("postback.app")


class PostbackApp:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.api = create_api()
        self.runtime: Runtime | None = None
        self.worker: DeliveryWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self.aggregator: Aggregator | None = None
        self._aggregator_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await self.api(scope, receive, send)
            return
        rt = self.runtime
        assert rt is not None, "lifespan did not run"
        path: str = scope["path"]
        if path.startswith("/c/"):
            await handle_click(rt, scope, receive, send)
        elif path == "/lp":
            await handle_lander_click(rt, scope, receive, send)
        elif is_postback_path(path):
            await handle_postback(rt, scope, receive, send)
        elif path == "/pixel":
            await handle_pixel(rt, scope, receive, send)
        elif path == "/pixel.js":
            await handle_snippet(rt, scope, receive, send)
        elif path == "/healthz":
            await send_json(send, 200, {"status": "ok"})
        elif path == "/readyz":
            await _readyz(rt, send)
        else:
            await self.api(scope, receive, send)

    def start(self) -> Runtime:
        setup_logging(self.settings)
        self.runtime = Runtime.create(self.settings)
        self.runtime.start()
        self.api.state.runtime = self.runtime
        warm_up()
        # Everything loaded so far (modules, the API's routes and models, the GeoIP data)
        # lives as long as the process: out of the collector's sight, a full collection scans
        # only what requests made, instead of stalling every request in flight for ms.
        gc.freeze()
        return self.runtime

    def start_worker(self) -> None:
        assert self.runtime is not None
        self.worker = DeliveryWorker(self.settings, self.runtime.db)
        self._worker_task = asyncio.create_task(self.worker.run())

    async def stop_worker(self) -> None:
        if self.worker is not None and self._worker_task is not None:
            self.worker.stop()
            await self._worker_task
            self.worker = self._worker_task = None

    # Reports: fold new clicks and ledger rows into the rollups in the background, off the
    # click path (reports/aggregator.py). Runs beside the in-process delivery worker.
    def start_aggregator(self) -> None:
        assert self.runtime is not None
        self.aggregator = Aggregator(self.runtime.db.engine)
        self._aggregator_task = asyncio.create_task(self.aggregator.run())

    async def stop_aggregator(self) -> None:
        if self.aggregator is not None and self._aggregator_task is not None:
            self.aggregator.stop()
            await self._aggregator_task
            self.aggregator = self._aggregator_task = None

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    bootstrap_admin_key(self.start())
                    if self.settings.serve_runs_worker:
                        self.start_worker()
                    if self.settings.serve_runs_aggregator:
                        self.start_aggregator()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop_worker()
                await self.stop_aggregator()
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _readyz(rt: Runtime, send: Send) -> None:
    ok = await asyncio.get_running_loop().run_in_executor(None, rt.db.ping)
    await send_json(send, 200 if ok else 503, {"database": "ok" if ok else "unreachable"})


def create_app(settings: Settings | None = None) -> Any:
    return PostbackApp(settings)
