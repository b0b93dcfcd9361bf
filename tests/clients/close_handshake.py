"""Conformance check: the WebSocket closing handshake, with the `websockets` library alone.

RFC 6455 section 5.5.1: an endpoint that receives a Close frame must send a
Close frame in response before closing the connection. Every Python realtime
client here closes its session with a Close frame, and each reports a server
that drops the TCP connection instead: `websockets` raises ConnectionClosedError
("sent 1000 (OK); no close frame received") where it would raise
ConnectionClosedOK, Pipecat logs that as an error, aiohttp records close code
1006. This pins the fault down without any client framework in the way.

Two variants: closing on an idle session, and closing while a response is
still streaming audio (the close then races the server's own sends).

Usage: python close_handshake.py PATH/TO/rehearse
"""

import asyncio
import json
import sys

from harness import TIMEOUT, Complaints, Emulator, emulator_complaints, run_checks

complaints = Complaints().install()

from websockets.asyncio.client import connect  # noqa: E402  (imported after logging is captured)
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK  # noqa: E402

# Short enough that a server that never answers costs little, long enough for loopback.
CLOSE_TIMEOUT = 5
# No cap on unread frames: with websockets' default cap the client stops reading the
# socket mid-response, never reaches the server's Close frame behind the audio, and
# would blame a conforming server.
CONNECT = {"additional_headers": {"Authorization": "Bearer sk-not-a-real-key"},
           "close_timeout": CLOSE_TIMEOUT, "max_queue": None}


async def recv_until(ws, wanted):
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if event["type"] == "error":
            raise AssertionError(f"server error: {event['error']}")
        if event["type"] == wanted:
            return event


async def close_and_inspect(ws, outcome, when):
    await ws.close()  # sends Close(1000) and waits up to CLOSE_TIMEOUT for the server's
    try:
        # Drain whatever the server sent before its close; the ending is what matters.
        while True:
            await ws.recv()
    except ConnectionClosedOK:
        pass
    except ConnectionClosedError as e:
        outcome.problem(f"{when}: ConnectionClosedError, expected ConnectionClosedOK: {e}")
    rcvd = ws.protocol.close_rcvd
    if rcvd is None:
        outcome.problem(f"{when}: the server sent no Close frame (close code seen by client: {ws.close_code})")
    elif rcvd.code != 1000:
        outcome.problem(f"{when}: the server answered with close code {rcvd.code}, expected 1000")


async def handshakes(ws_url, outcome):
    url = f"{ws_url}?model=gpt-realtime"
    async with connect(url, **CONNECT) as ws:
        await recv_until(ws, "session.created")
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}}))
        await recv_until(ws, "session.updated")
        await close_and_inspect(ws, outcome, "idle session")

    async with connect(url, **CONNECT) as ws:
        await recv_until(ws, "session.created")
        await ws.send(json.dumps({"type": "response.create"}))  # the scripted greeting, in audio
        await recv_until(ws, "response.output_audio.delta")
        await close_and_inspect(ws, outcome, "mid-response")


def check(binary, outcome):
    with Emulator(binary) as emulator:
        try:
            asyncio.run(asyncio.wait_for(handshakes(emulator.ws_url, outcome), 3 * TIMEOUT))
        finally:
            emulator.stop()
            for line in complaints.records + emulator_complaints(emulator):
                outcome.problem(f"logged: {line}")


if __name__ == "__main__":
    run_checks([("websockets: server answers a client Close frame", check)], sys.argv)
