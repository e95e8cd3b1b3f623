"""A streaming fake upstream for the benchmark: N chunks at a set interval, asyncio, many at once.

Run as its own process: ``python -m bench.stream_upstream --port P --chunks N --interval-ms I``.
Every chunk carries content, so a proxy's commit point is the first chunk. Connections
are kept alive between streams, as a provider's are, so a proxy's pooled connection is
reused rather than opened anew for each stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(index: int, last: bool) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "delta": {} if last else {"content": f" w{index}"},
                "finish_reason": "stop" if last else None,
            }
        ],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunks: int, interval: float
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"connection":
                    close = value.strip().lower() == b"close"
            if length:
                await reader.readexactly(length)
            writer.write(HEAD)
            for index in range(chunks):
                writer.write(_chunk(_event(index, last=index == chunks - 1)))
                await writer.drain()
                if index < chunks - 1:
                    await asyncio.sleep(interval)
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            if close:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _main(port: int, chunks: int, interval: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, chunks, interval), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.chunks, args.interval_ms / 1000))
