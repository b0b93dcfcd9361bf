"""Conformance check: Pipecat's OpenAI realtime service against `rehearse emulator`.

`OpenAIRealtimeLLMService` runs in a minimal pipeline with no transport:

    Head -> user aggregator -> OpenAIRealtimeLLMService -> Tail -> assistant aggregator

Head and Tail stand in for the transport: Tail gathers the agent's audio,
transcript and function-call frames; Head catches ErrorFrames travelling
upstream. The caller's order number is the opening user message of the
context (Pipecat sends a context's messages as conversation items when it
sets the conversation up), so the first response is a lookup_order call.
Pipecat runs the registered function, sends its result back and asks for a
response, which must speak the tool's result. Then an EndFrame shuts the
pipeline down, which closes the WebSocket.

Pipecat logs through loguru; the harness routes its WARNING+ into the check.

Usage: python pipecat_check.py PATH/TO/rehearse
"""

import asyncio
import sys

from harness import (ITEM, ORDER_ID, ORDER_LINE, PCM16_24K_BYTES_PER_SECOND, TIMEOUT, TOOL_RESULT,
                     Complaints, Emulator, emulator_complaints, run_checks)

complaints = Complaints().install().install_loguru()

# Imported after logging is captured (pipecat logs on import).
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema  # noqa: E402
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema  # noqa: E402
from pipecat.frames.frames import (EndFrame, ErrorFrame,  # noqa: E402
                                   FunctionCallResultFrame, LLMFullResponseEndFrame, LLMRunFrame,
                                   TTSAudioRawFrame, TTSTextFrame)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.services.llm_service import FunctionCallParams  # noqa: E402
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

tool_calls = []


async def lookup_order(params: FunctionCallParams):
    tool_calls.append(params.arguments.get("order_id"))
    await params.result_callback(TOOL_RESULT)


TOOLS = ToolsSchema(standard_tools=[FunctionSchema(
    name="lookup_order", description="Find an order by its order number.",
    properties={"order_id": {"type": "string"}}, required=["order_id"])])


class Tail(FrameProcessor):
    """Where an output transport would be: collects what the agent produced, per response."""

    def __init__(self):
        super().__init__()
        self.responses = [{"text": "", "audio": 0}]
        self.tool_results = []
        self.response_ended = asyncio.Event()

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        current = self.responses[-1]
        if isinstance(frame, TTSAudioRawFrame):
            current["audio"] += len(frame.audio)
        elif isinstance(frame, TTSTextFrame):
            current["text"] += frame.text
        elif isinstance(frame, FunctionCallResultFrame):
            self.tool_results.append(frame.result)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.responses.append({"text": "", "audio": 0})
            self.response_ended.set()
        await self.push_frame(frame, direction)

    def spoken(self):
        return [r for r in self.responses if r["audio"] or r["text"]]


class Head(FrameProcessor):
    """Where an input transport would be: the end of the line for upstream ErrorFrames."""

    def __init__(self):
        super().__init__()
        self.errors = []

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, ErrorFrame) and direction == FrameDirection.UPSTREAM:
            self.errors.append(frame.error)
        await self.push_frame(frame, direction)


async def conversation(ws_url, outcome):
    llm = OpenAIRealtimeLLMService(
        api_key="sk-not-a-real-key", base_url=ws_url,
        settings=OpenAIRealtimeLLMService.Settings(
            model="gpt-realtime", system_instruction="You handle returns for Northwind Outfitters."))
    llm.register_function("lookup_order", lookup_order)
    context = LLMContext(messages=[{"role": "user", "content": ORDER_LINE}], tools=TOOLS)
    aggregators = LLMContextAggregatorPair(context)
    head, tail = Head(), Tail()
    pipeline = Pipeline([head, aggregators.user(), llm, tail, aggregators.assistant()])
    worker = PipelineWorker(pipeline, params=PipelineParams(), enable_rtvi=False,
                            cancel_on_idle_timeout=False)
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def on_started(worker, frame):
        started.set()

    async def drive():
        await asyncio.wait_for(started.wait(), TIMEOUT)
        await worker.queue_frame(LLMRunFrame())
        # The tool call's response carries no speech; wait for a finished one that does.
        try:
            async with asyncio.timeout(TIMEOUT):
                while not any(r["audio"] for r in tail.responses[:-1]):
                    tail.response_ended.clear()
                    await tail.response_ended.wait()
        except TimeoutError:
            outcome.problem(f"timed out after {TIMEOUT}s waiting for a spoken reply after the tool")
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.gather(runner.run(), drive())

    spoken = tail.spoken()
    outcome.expect(tool_calls == [ORDER_ID], f"lookup_order ran with {tool_calls}, expected [{ORDER_ID!r}]")
    outcome.expect(tail.tool_results == [TOOL_RESULT], f"function call results: {tail.tool_results}")
    outcome.expect(any(ITEM in r["text"] for r in spoken),
                   f"reply after the tool does not quote its output ({ITEM!r}): {[r['text'] for r in spoken]}")
    reply_seconds = sum(r["audio"] for r in spoken) / PCM16_24K_BYTES_PER_SECOND
    outcome.expect(reply_seconds > 1.0, f"only {reply_seconds:.2f}s of agent audio")
    for error in head.errors:
        outcome.problem(f"ErrorFrame: {error}")
    outcome.note(f"reply after tool: {[r['text'] for r in spoken]} ({reply_seconds:.1f}s audio)")


def check(binary, outcome):
    with Emulator(binary) as emulator:
        try:
            asyncio.run(asyncio.wait_for(conversation(emulator.ws_url, outcome), 3 * TIMEOUT))
        finally:
            emulator.stop()
            for line in complaints.records + emulator_complaints(emulator):
                outcome.problem(f"logged: {line}")


if __name__ == "__main__":
    run_checks([("pipecat openai realtime: tool round trip with audio, end of pipeline", check)], sys.argv)
