"""Conformance check: LiveKit Agents' OpenAI realtime plugin against `rehearse emulator`.

`openai.realtime.RealtimeModel(base_url=...)` runs inside an `AgentSession` in
test mode (no room, no audio I/O: `session.run(user_input=...)`), which is how
LiveKit's own agent tests drive a model. Two text turns: the opening line, then
the order number, which makes the scripted agent call lookup_order. The tool is
an ordinary LiveKit `@function_tool` returning a dict, as LiveKit apps commonly
do; LiveKit executes it, sends the output back and asks for a reply, which must
quote the tool's result. Agent audio is counted from the raw server events,
since test mode has no audio sink.

The closing handshake is not judged here: LiveKit closes by sending its Close
frame and then cancelling the task that waits for the server's, so aiohttp
records 1006 whatever the server does, and LiveKit logs nothing either way
(close_handshake.py, the Agents SDK and Pipecat checks cover it).

Usage: python livekit_check.py PATH/TO/rehearse
"""

import asyncio
import base64
import sys

from harness import (ITEM, OPENING_LINE, ORDER_ID, ORDER_LINE, PCM16_24K_BYTES_PER_SECOND, TIMEOUT,
                     TOOL_RESULT, Complaints, Emulator, emulator_complaints, run_checks)

complaints = Complaints().install()

from livekit.agents import Agent, AgentSession, RunContext, function_tool  # noqa: E402  (after logging is captured)
from livekit.plugins import openai  # noqa: E402

tool_calls = []


class Support(Agent):
    def __init__(self):
        super().__init__(instructions="You handle returns for Northwind Outfitters.")

    @function_tool
    async def lookup_order(self, context: RunContext, order_id: str) -> dict:
        """Find an order by its order number.

        Args:
            order_id: The order number, N W followed by five digits.
        """
        tool_calls.append(order_id)
        return TOOL_RESULT


def said_by_agent(run_result):
    return [e.item.text_content or "" for e in run_result.events
            if e.type == "message" and e.item.role == "assistant"]


async def conversation(host_port, outcome):
    server_events, audio = [], {"bytes": 0}

    def on_server_event(event):
        server_events.append(event)
        if event.get("type") == "response.output_audio.delta":
            audio["bytes"] += len(base64.b64decode(event["delta"]))

    model = openai.realtime.RealtimeModel(base_url=f"http://{host_port}/v1", api_key="sk-not-a-real-key",
                                          model="gpt-realtime")
    agent = Support()
    async with model, AgentSession(llm=model) as session:
        await session.start(agent)
        agent.realtime_llm_session.on("openai_server_event_received", on_server_event)

        first = await asyncio.wait_for(session.run(user_input=OPENING_LINE), TIMEOUT)
        said = said_by_agent(first)
        outcome.expect(any("order number" in s.lower() for s in said),
                       f"reply to the opening line does not ask for the order number: {said}")
        opening_audio = audio["bytes"]

        second = await asyncio.wait_for(session.run(user_input=ORDER_LINE), TIMEOUT)
        calls = [e.item for e in second.events if e.type == "function_call"]
        outputs = [e.item for e in second.events if e.type == "function_call_output"]
        said_after = said_by_agent(second)
        outcome.expect([c.name for c in calls] == ["lookup_order"], f"function calls: {calls}")
        outcome.expect(tool_calls == [ORDER_ID], f"lookup_order ran with {tool_calls}, expected [{ORDER_ID!r}]")
        for o in outputs:
            outcome.note(f"tool output as LiveKit sent it: {o.output!r}")
            outcome.expect(not o.is_error, f"tool output marked as error: {o.output!r}")
        outcome.expect(any(ITEM in s for s in said_after),
                       f"reply after the tool does not quote its output ({ITEM!r}): {said_after}")
        reply_seconds = (audio["bytes"] - opening_audio) / PCM16_24K_BYTES_PER_SECOND
        outcome.expect(opening_audio > 0, "no agent audio for the opening turn")
        outcome.expect(reply_seconds > 1.0, f"only {reply_seconds:.2f}s of agent audio after the tool")
        outcome.note(f"reply after tool: {said_after} ({reply_seconds:.1f}s audio)")
    for event in server_events:
        if event.get("type") == "error":
            outcome.problem(f"server error event: {event.get('error')}")


def check(binary, outcome):
    with Emulator(binary) as emulator:
        try:
            asyncio.run(asyncio.wait_for(conversation(emulator.host_port, outcome), 3 * TIMEOUT))
        finally:
            emulator.stop()
            for line in complaints.records + emulator_complaints(emulator):
                outcome.problem(f"logged: {line}")


if __name__ == "__main__":
    run_checks([("livekit-agents openai realtime: text turn, dict tool round trip", check)], sys.argv)
