"""WebSocket message rate for bench/ws.sh: `ws.py serve PORT` runs an echo server;
`ws.py load URL CONNECTIONS SECONDS [AUTHORIZATION]` keeps CONNECTIONS sockets each sending a
message and waiting for its echo, for SECONDS, and prints "messages_per_second mean_ms"."""
import asyncio
import sys
import time

import websockets


async def serve(port):
    async def echo(socket):
        async for message in socket:
            await socket.send(message)

    async with websockets.serve(echo, "127.0.0.1", port, compression=None):
        await asyncio.Future()


async def load(url, connections, seconds, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    deadline = time.monotonic() + seconds
    counts, waits = [], []

    async def one():
        done, waited = 0, 0.0
        async with websockets.connect(url, additional_headers=headers, compression=None) as socket:
            while time.monotonic() < deadline:
                started = time.monotonic()
                await socket.send("ping-0123456789")
                await socket.recv()
                waited += time.monotonic() - started
                done += 1
        counts.append(done)
        waits.append(waited)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.monotonic() - started
    total = sum(counts)
    print(f"{total / elapsed:.0f} {1000 * sum(waits) / max(total, 1):.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    else:
        auth = sys.argv[5] if len(sys.argv) > 5 else None
        asyncio.run(load(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), auth))
