"""A live server over a community: the API with the dashboard mounted, in a thread on
127.0.0.1 (`tests.helpers.LiveServer`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from api import dashboard
from api.app import create_app
from api.settings import Settings
from tests.dashboard.community import Community
from tests.helpers import LiveServer


@dataclass
class DashboardServer:
    url: str
    community: Community


def serve(db_url: str, community: Community) -> Iterator[DashboardServer]:
    app = create_app(Settings(db=db_url, events_poll_seconds=0.1), ledger=community.ledger)
    if not any(getattr(route, "name", None) == "dashboard" for route in app.routes):
        dashboard.mount(app)  # create_app mounts it; a bare API app needs it added
    # The browser's event streams stay open: stop without waiting long for them.
    with LiveServer(app, lifespan="on", timeout_graceful_shutdown=1) as url:
        yield DashboardServer(url, community)
