"""A TCP relay to the real Redis on loopback (127.0.0.1:6379) that a test can cut and restore on
the same port, for Redis outages without touching the server others use. It runs its own event
loop in a thread, so it keeps relaying while the code under test blocks its own loop on
synchronous redis-py calls (Rasa's lock store), and asyncio code (the gateway) can drive it too.

- :meth:`RedisSwitch.off` refuses: no listener, every open connection closed (a stopped Redis);
- :meth:`RedisSwitch.hold` black-holes: connections are accepted and what they carry is dropped
  both ways, so a client waits for its socket timeout (an unreachable host);
- :meth:`RedisSwitch.on` relays again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from cobranza.testing.servers import free_port

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


class RedisSwitch:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://{REDIS_HOST}:{self.port}/0"
        self.held = False
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    # -- from any thread

    def on(self) -> None:
        self.held = False
        if self._server is None:
            self._run(self._listen())

    def off(self) -> None:
        self.held = False
        self._run(self._stop())

    def hold(self) -> None:
        self.held = True
        if self._server is None:
            self._run(self._listen())

    def close(self) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> RedisSwitch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    # -- on the relay's loop

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, REDIS_HOST, self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        self._writers |= {writer, up_writer}

        async def copy(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    if self.held:
                        continue  # black-holed: the other side never hears of it
                    target.write(data)
                    await target.drain()
            except OSError:
                pass
            finally:
                target.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
