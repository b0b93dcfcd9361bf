"""Conformance check: the official OpenAI Python SDK against `rehearse emulator`.

Runs a text turn, an audio turn (server VAD on streamed speech) and a
function-call round trip, in GA and in beta mode, over 127.0.0.1. Every server
frame is also validated strictly against the SDK's own pydantic event union,
which is stricter than the SDK's lenient parsing.

Usage: python openai_sdk_check.py PATH/TO/rehearse
Prints one line per check and a closing "N passed, N failed" line.
"""

import asyncio
import base64
import json
import subprocess
import sys
import wave
import tempfile
import os

from openai import AsyncOpenAI
from pydantic import TypeAdapter
from openai.types.realtime import RealtimeServerEvent
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent

GA_EVENTS = TypeAdapter(RealtimeServerEvent)
BETA_EVENTS = TypeAdapter(BetaServerEvent)
TIMEOUT = 20

TOOLS = [{
    "type": "function",
    "name": "lookup_order",
    "description": "Find an order by its order number.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
}]


class Recorder:
    """Receives frames through the SDK and validates each one strictly."""

    def __init__(self, conn, adapter):
        self.conn, self.adapter, self.seen = conn, adapter, []

    async def until(self, wanted):
        while True:
            raw = await asyncio.wait_for(self.conn.recv_bytes(), TIMEOUT)
            self.adapter.validate_json(raw)  # raises on any schema mismatch
            event = self.conn.parse_event(raw)
            self.seen.append(event.type)
            if event.type == "error":
                raise AssertionError(f"server error: {raw[:300]!r}")
            if event.type == wanted:
                return event, json.loads(raw)


async def text_turn(conn, rec, beta):
    modalities = {"modalities": ["text"]} if beta else {"output_modalities": ["text"]}
    await conn.session.update(session=dict(modalities, **({} if beta else {"type": "realtime"})))
    await rec.until("session.updated")
    await conn.conversation.item.create(item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi, I want to return something."}]})
    await rec.until("conversation.item.created" if beta else "conversation.item.done")
    await conn.response.create()
    _, done = await rec.until("response.done")
    text = done["response"]["output"][0]["content"][0]["text"]
    assert done["response"]["status"] == "completed", done
    assert "order number" in text.lower(), text


async def audio_turn(conn, rec, beta, speech_pcm):
    if beta:
        await conn.session.update(session={"modalities": ["text", "audio"], "turn_detection": {"type": "server_vad"}})
    else:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"],
                                           "audio": {"input": {"turn_detection": {"type": "server_vad"}}}})
    await rec.until("session.updated")
    padded = b"\x00\x00" * 24 * 300 + speech_pcm + b"\x00\x00" * 24 * 900
    for i in range(0, len(padded), 4800):
        await conn.input_audio_buffer.append(audio=base64.b64encode(padded[i:i + 4800]).decode())
    await rec.until("input_audio_buffer.speech_started")
    await rec.until("input_audio_buffer.committed")
    audio = bytearray()
    while True:
        raw = await asyncio.wait_for(conn.recv_bytes(), TIMEOUT)
        rec.adapter.validate_json(raw)
        event = json.loads(raw)
        rec.seen.append(event["type"])
        if event["type"] in ("response.audio.delta", "response.output_audio.delta"):
            audio += base64.b64decode(event["delta"])
        # A pause inside the utterance can end a turn early; that response is
        # cancelled by the next speech_started, and the caller waits on.
        if event["type"] == "response.done" and event["response"]["status"] == "completed":
            break
    seconds = len(audio) / 48000
    assert seconds > 1.0, f"only {seconds:.2f}s of agent audio; events: {rec.seen[-25:]}"


async def function_call(conn, rec, beta):
    session = {"tools": TOOLS, "turn_detection": None} if beta else \
        {"type": "realtime", "tools": TOOLS, "audio": {"input": {"turn_detection": None}}}
    await conn.session.update(session=session)
    await rec.until("session.updated")
    await conn.conversation.item.create(item={
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "My order number is NW10422."}]})
    await conn.response.create()
    args, _ = await rec.until("response.function_call_arguments.done")
    assert args.name == "lookup_order", args
    assert json.loads(args.arguments) == {"order_id": "NW10422"}, args.arguments
    await rec.until("response.done")
    await conn.conversation.item.create(item={
        "type": "function_call_output", "call_id": args.call_id,
        "output": json.dumps({"found": True, "item": "a pair of trail boots"})})
    await conn.response.create()
    _, done = await rec.until("response.done")
    content = done["response"]["output"][0]["content"][0]
    said = content.get("transcript") or content.get("text") or ""
    assert "trail boots" in said, said


async def run_checks(base, speech_pcm):
    client = AsyncOpenAI(api_key="not-a-real-key", base_url=f"http://{base}/v1", websocket_base_url=f"ws://{base}/v1")
    results = []
    for beta in (False, True):
        mode = "beta" if beta else "ga"
        for name, check in (("text turn", text_turn), ("audio turn", audio_turn), ("function call", function_call)):
            connector = client.beta.realtime.connect if beta else client.realtime.connect
            try:
                async with connector(model="gpt-realtime") as conn:
                    rec = Recorder(conn, BETA_EVENTS if beta else GA_EVENTS)
                    await rec.until("session.created")
                    args = (conn, rec, beta, speech_pcm) if check is audio_turn else (conn, rec, beta)
                    await check(*args)
                results.append((f"{mode}: {name}", None))
            except Exception as e:  # report every check, not just the first failure
                results.append((f"{mode}: {name}", f"{type(e).__name__}: {e}"))
    return results


def main():
    binary = sys.argv[1]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = os.path.join(tmp, "caller.wav")
        subprocess.run([binary, "speak", "--pitch", "0.9", "--out", wav_path,
                        "Hello, I would like to return a pair of boots."], check=True, cwd=repo)
        with wave.open(wav_path) as w:
            assert w.getframerate() == 24000 and w.getnchannels() == 1 and w.getsampwidth() == 2
            speech_pcm = w.readframes(w.getnframes())
        server = subprocess.Popen([binary, "emulator", "--listen", "127.0.0.1:0", "--latency-ms", "0"],
                                  cwd=repo, stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            base = line.strip().split("ws://")[1].removesuffix("/v1/realtime")
            results = asyncio.run(run_checks(base, speech_pcm))
        finally:
            server.terminate()
            server.wait(timeout=10)
    failed = 0
    for name, error in results:
        print(f"{'ok  ' if error is None else 'FAIL'} openai-sdk {name}" + ("" if error is None else f": {error}"))
        failed += error is not None
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
