"""The API's HTTP protocol: a response's writes reach the socket as one write, in order, before a close."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from app.server import CoalescingTransport
from tests.stack import REPO


class RecordingTransport:
    """Stands in for the socket's transport: records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 8000) if name == "sockname" else default


def test_writes_in_one_loop_turn_are_one_write() -> None:
    async def main() -> RecordingTransport:
        raw = RecordingTransport()
        t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert raw.writes == [] and t.get_write_buffer_size() == 40
        await asyncio.sleep(0)  # the end of this turn of the loop
        t.write(b"next")
        await asyncio.sleep(0)
        assert t.get_extra_info("sockname") == ("127.0.0.1", 8000)  # everything else is the transport's own
        return raw

    raw = asyncio.run(main())
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"next"]


def test_close_sends_what_was_written_first_and_abort_drops_it() -> None:
    async def main() -> tuple[RecordingTransport, RecordingTransport]:
        closed, aborted = RecordingTransport(), RecordingTransport()
        loop = asyncio.get_running_loop()
        for raw, end in ((closed, "close"), (aborted, "abort")):
            t = CoalescingTransport(raw, loop)  # type: ignore[arg-type]
            t.write(b"last words")
            getattr(t, end)()
        await asyncio.sleep(0)  # the scheduled flush finds nothing more to send
        return closed, aborted

    closed, aborted = asyncio.run(main())
    assert closed.events == ["write", "close"] and closed.writes == [b"last words"]
    assert aborted.events == ["abort"]


def test_the_served_app_leaves_its_start_up_heap_out_of_full_collections() -> None:
    """`stylewave api` serves `serve_app` (its own process here: freezing the test process would outlive it)."""
    script = """if True:
        import gc, json
        from app.fastpath import PollFastPath
        from app.server import APP_FACTORY, serve_app
        before = len(gc.get_objects())
        app = serve_app()
        print(json.dumps({"factory": APP_FACTORY, "fast_path": isinstance(app.app, PollFastPath), "before": before,
                          "frozen": gc.get_freeze_count(), "walked": len(gc.get_objects())}))
    """
    env = {"PATH": "/usr/bin:/bin", "STYLEWAVE_REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen["factory"] == "app.server:serve_app" and seen["fast_path"]
    # A full collection now walks what was allocated since: a small part of what it walked before.
    assert seen["frozen"] > seen["before"] > 20 * seen["walked"]
