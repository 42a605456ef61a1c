"""A two-node agent for the llm-agent example: `plan` asks the model how to
answer, `answer` answers with a tool-call loop (the model may call
lookup_capital). It uses the official openai SDK, which reads
OPENAI_BASE_URL and OPENAI_API_KEY: WTB's gateway points the base URL at
itself, so the same code records, replays or calls live.

    python agent.py plan     # a WTB command node: JSON in on stdin, JSON out
    python agent.py answer

The cassettes beside this file were recorded against LiteLLM's proxy serving
the scripted model of scripts/llm_mock.py (what the tests run); record them
again against any OpenAI-compatible endpoint (see bench.hcl).
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
from wtb_node import serve  # noqa: E402

from openai import OpenAI  # noqa: E402

CAPITALS = {"france": "Paris", "japan": "Tokyo", "brazil": "Brasília", "kenya": "Nairobi"}

TOOLS = [{
    "type": "function",
    "function": {
        "name": "lookup_capital",
        "description": "The capital city of a country.",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]},
    },
}]

client = OpenAI(max_retries=0)


def lookup_capital(country):
    return CAPITALS.get(country.strip().lower(), "unknown")


def plan(request):
    question = request["case"]["input"]["question"]
    params = request["params"]
    style = params.get("style", "brief")
    r = client.chat.completions.create(
        model=params.get("model", "gpt-4o-mini"),
        temperature=0,
        messages=[
            {"role": "system", "content": f"You plan how to answer a question. Be {style}."},
            {"role": "user", "content": question},
        ],
    )
    return {"plan": r.choices[0].message.content}


def answer(request):
    state, params = request["state"], request["params"]
    question = request["case"]["input"]["question"]
    use_tools = params.get("tools", True)
    messages = [
        {"role": "system", "content": "Answer the question in one sentence. Plan: " + state.get("plan", "")},
        {"role": "user", "content": question},
    ]
    tools_used = []
    for turn in range(1, 5):
        kwargs = {"tools": TOOLS} if use_tools else {}
        r = client.chat.completions.create(
            model=params.get("model", "gpt-4o-mini"),
            temperature=0,
            messages=messages,
            **kwargs,
        )
        msg = r.choices[0].message
        if not msg.tool_calls:
            return {"answer": msg.content, "turns": turn, "tools_used": tools_used}
        messages.append({"role": "assistant", "content": msg.content, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in msg.tool_calls]})
        for call in msg.tool_calls:
            args = json.loads(call.function.arguments or "{}")
            tools_used.append(call.function.name)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": lookup_capital(args.get("country", ""))})
    return {"answer": "", "turns": 4, "tools_used": tools_used}


if __name__ == "__main__":
    serve({"plan": plan, "answer": answer}[sys.argv[1]])
