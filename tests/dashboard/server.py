"""A live server: uvicorn in a thread on 127.0.0.1, the dashboard mounted, over a community."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from api import dashboard
from api.app import create_app
from api.settings import Settings
from tests.dashboard.community import Community


@dataclass
class LiveServer:
    url: str
    community: Community


def serve(db_url: str, community: Community) -> Iterator[LiveServer]:
    app = create_app(Settings(db=db_url, events_poll_seconds=0.1), ledger=community.ledger)
    if not any(getattr(route, "name", None) == "dashboard" for route in app.routes):
        dashboard.mount(app)  # create_app mounts it; a bare API app needs it added
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", community)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
