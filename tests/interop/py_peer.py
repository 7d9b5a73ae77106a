"""Third-party WebSocket peer for interop tests, using the `websockets` library.

server: prints `PORT <n>`, then one JSON line per connection (path, headers, subprotocol,
        the negotiated extensions); echoes every message with its type; the text
        `please-close` closes with 4001 "custom". Compression (permessage-deflate) is
        accepted, as websockets does by default.
client URL [PROTO]: sends a text and a binary message and a large compressible text, pings,
        closes with 1000 and prints a JSON summary of what came back. It offers
        permessage-deflate, as websockets does by default.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve


async def handler(ws):
    req = ws.request
    print(json.dumps({
        "path": req.path,
        "headers": {k.lower(): v for k, v in req.headers.raw_items()},
        "subprotocol": ws.subprotocol,
        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
    }), flush=True)
    async for msg in ws:
        if msg == "please-close":
            await ws.close(4001, "custom")
            return
        await ws.send(msg)


async def server():
    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat"], max_size=None,
                     select_subprotocol=lambda conn, offered: offered[0] if offered else None) as s:
        port = s.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


async def client(url, proto):
    kwargs = {"subprotocols": [proto]} if proto else {}
    async with connect(url, **kwargs) as ws:
        await ws.send("hello")
        text = await ws.recv()
        await ws.send(b"\x00\x01\x02\xff")
        binary = await ws.recv()
        big = "".join(f"line {i} of a large compressible message\n" for i in range(5000))
        await ws.send(big)
        big_echo = await ws.recv()
        pong = await ws.ping(b"abc")
        await asyncio.wait_for(pong, 5)
        await ws.close(1000, "done")
        print(json.dumps({
            "text": text if isinstance(text, str) else None,
            "binary_hex": binary.hex() if isinstance(binary, bytes) else None,
            "subprotocol": ws.subprotocol,
            "close_code": ws.close_code,
            "big_ok": big_echo == big,
            "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
        }), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server())
    else:
        asyncio.run(client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
