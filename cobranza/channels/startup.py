"""What every channel of ours adds to the Rasa server's start: once the model is loaded, the
start-up objects are kept out of the garbage collector's passes (cobranza/collector.py)."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Sanic

from cobranza import collector


def freeze_after_start(blueprint: Blueprint) -> None:
    """Rasa loads its agent in a ``before_server_start`` listener, so by ``after_server_start``
    the model is in memory. Each channel registers this; the first to run freezes."""

    async def freeze(_app: Sanic, _loop: Any) -> None:
        collector.freeze("rasa")

    blueprint.listener("after_server_start")(freeze)
