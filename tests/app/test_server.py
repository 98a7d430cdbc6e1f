"""The API's HTTP protocol: a response's writes reach the socket as one write, in order, before a close."""

from __future__ import annotations

import asyncio

from app.server import CoalescingTransport


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
