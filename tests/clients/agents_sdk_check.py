"""Conformance check: the OpenAI Agents SDK's realtime API against `rehearse emulator`.

A RealtimeAgent with one function tool runs in a RealtimeRunner session over
the SDK's own WebSocket transport (`websockets`): an opening text turn (the
agent asks for the order number), then the order number, which makes the
scripted agent call lookup_order; the SDK runs
the tool, sends its output back and asks for the next response, which must
quote the tool's result in speech. The session is then closed normally.

The SDK validates every server event against the `openai` package's pydantic
models and logs "Failed to validate server event" on a mismatch, so a clean
log also means the emulator's events parse.

Usage: python agents_sdk_check.py PATH/TO/rehearse
"""

import asyncio
import sys

from harness import (ITEM, OPENING_LINE, ORDER_ID, ORDER_LINE, PCM16_24K_BYTES_PER_SECOND, TIMEOUT,
                     TOOL_RESULT, Complaints, Emulator, emulator_complaints, run_checks)

complaints = Complaints().install()

from agents import function_tool  # noqa: E402  (imported after logging is captured)
from agents.realtime import RealtimeAgent, RealtimeRunner  # noqa: E402
from agents.realtime.openai_realtime import OpenAIRealtimeWebSocketModel  # noqa: E402

tool_calls = []


@function_tool
def lookup_order(order_id: str) -> dict:
    """Find an order by its order number."""
    tool_calls.append(order_id)
    return TOOL_RESULT


class KeepsItsSocket(OpenAIRealtimeWebSocketModel):
    """The SDK's model, keeping a handle on its connection so the check can see how it closed.

    The SDK drops its reference on close() and swallows the listener's
    ConnectionClosedError while closing, so without this a missing close
    frame from the server would go unnoticed.
    """

    sockets = []

    async def _create_websocket_connection(self, *args, **kwargs):
        ws = await super()._create_websocket_connection(*args, **kwargs)
        self.sockets.append(ws)
        return ws


class ModelWatcher:
    """Listens to the model layer directly: exceptions it reports while the session is closing
    never reach the session's event stream, but they are still the client complaining."""

    def __init__(self):
        self.exceptions = []

    async def on_event(self, event):
        if event.type == "exception":
            self.exceptions.append(f"{event.context}: {type(event.exception).__name__}: {event.exception}")
        elif event.type == "error":
            self.exceptions.append(f"error event: {event.error}")


async def until(events, predicate, what, collect):
    """Consumes session events, passing each to `collect`, until `predicate(event)`."""
    async def consume():
        async for event in events:
            collect(event)
            if predicate(event):
                return event
        raise AssertionError(f"session ended before {what}")
    try:
        return await asyncio.wait_for(consume(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}") from None


def assistant_transcripts(history):
    """What the agent said, per assistant message, from the session's public history events."""
    said = []
    for item in history.values():
        if getattr(item, "type", None) == "message" and getattr(item, "role", None) == "assistant":
            for part in item.content:
                said.append(getattr(part, "transcript", None) or getattr(part, "text", None) or "")
    return said


async def conversation(ws_url, outcome):
    agent = RealtimeAgent(name="support", instructions="You handle returns for Northwind Outfitters.",
                          tools=[lookup_order])
    model = KeepsItsSocket()
    watcher = ModelWatcher()
    model.add_listener(watcher)
    runner = RealtimeRunner(agent, model=model)
    session = await runner.run(model_config={"url": f"{ws_url}?model=gpt-realtime", "api_key": "sk-not-a-real-key"})
    seen, audio, history = [], bytearray(), {}

    def collect(event):
        # Audio and history arrive as events; gather them on the way.
        seen.append(event)
        if event.type == "audio":
            audio.extend(event.audio.data)
        elif event.type == "history_updated":
            history.clear()
            history.update((item.item_id, item) for item in event.history)
        elif event.type == "history_added":
            history[event.item.item_id] = event.item

    def turn_end(event):
        return event.type == "agent_end"

    async with session:
        stream = session.__aiter__()
        # Text turn: the agent asks for the order number.
        await session.send_message(OPENING_LINE)
        await until(stream, turn_end, "the reply to the opening line", collect)
        said = assistant_transcripts(history)
        outcome.expect(any("order number" in s.lower() for s in said),
                       f"reply to the opening line does not ask for the order number: {said}")
        opening_audio = len(audio)
        # The order number: a lookup_order call, executed by the SDK, then a spoken reply.
        await session.send_message(ORDER_LINE)
        await until(stream, lambda e: e.type == "tool_end", "lookup_order to run", collect)

        def spoken_reply_ended(event):
            # The response that made the tool call also ends with an
            # agent_end, which the SDK may emit before or after tool_end:
            # wait for the end of a turn that said something new.
            return turn_end(event) and any(s.strip() for s in assistant_transcripts(history)[len(said):])

        await until(stream, spoken_reply_ended, "the reply after the tool", collect)
        said_after = assistant_transcripts(history)[len(said):]
    errors = [e for e in seen if e.type == "error"]
    outcome.expect(not errors, f"session error events: {[str(e.error) for e in errors]}")
    outcome.expect(tool_calls == [ORDER_ID], f"lookup_order calls: {tool_calls}, expected [{ORDER_ID!r}]")
    outcome.expect(any(ITEM in s for s in said_after),
                   f"reply after the tool does not quote its output ({ITEM!r}): {said_after}")
    reply_seconds = (len(audio) - opening_audio) / PCM16_24K_BYTES_PER_SECOND
    outcome.expect(opening_audio > 0, "no agent audio for the opening turn")
    outcome.expect(reply_seconds > 1.0, f"only {reply_seconds:.2f}s of agent audio after the tool")
    outcome.note(f"reply after tool: {said_after} ({reply_seconds:.1f}s audio)")
    # Read how the socket closed: close() has awaited the listener task by now.
    for exc in watcher.exceptions:
        outcome.problem(f"model reported: {exc}")
    for ws in model.sockets:
        close_rcvd = ws.protocol.close_rcvd
        outcome.expect(close_rcvd is not None,
                       f"closing handshake: the server sent no close frame (client sees code {ws.close_code})")
        if close_rcvd is not None:
            outcome.expect(close_rcvd.code == 1000, f"closing handshake: server close code {close_rcvd.code}")


def check(binary, outcome):
    with Emulator(binary) as emulator:
        try:
            asyncio.run(asyncio.wait_for(conversation(emulator.ws_url, outcome), 3 * TIMEOUT))
        finally:
            emulator.stop()
            for line in complaints.records + emulator_complaints(emulator):
                outcome.problem(f"logged: {line}")


if __name__ == "__main__":
    run_checks([("openai-agents realtime: text turn, tool round trip, close", check)], sys.argv)
