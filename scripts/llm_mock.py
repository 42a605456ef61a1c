"""A scripted model for LiteLLM's proxy (a custom provider): the model API of
the model-call tests and of the llm-agent example's recordings.

It answers like a small tool-using model, deterministically in what it says
and with a serial number in every answer ("[#17]"), so two calls never get
the same text and a replay that gave one node run another's answer would
show. Rules, on the last message:

  - a tool result         -> "The capital of <country> is <result>. [#n]"
  - tools offered         -> a call of the first tool, {"country": <country>}
  - a system prompt "You plan …" -> a short plan in the style asked
  - a system prompt "You are an evaluator …" (WTB's llm_judge) -> a grade
    in a code fence after a line of prose: the best score or choice when
    the output to judge says "Paris", the worst otherwise; a rubric that
    says "ANSWER IN PROSE" gets prose with no JSON (an answer no judge can
    read)
  - anything else         -> "The capital of <country> is Paris. [#n]" (a guess)

Usage counts words. Streaming sends the answer in three-character pieces.
A model whose name has "slow" in it answers after 200 ms (a remote model's
latency, for the replay-versus-live benchmark). A model whose name has
"limited" in it refuses the first ask of each prompt with LiteLLM's
RateLimitError (a 429, as a provider's rate limit answers) and answers it
when asked again: every call is pushed back exactly once, whoever retries.
"""

import itertools
import json
import re
import threading
import time

import litellm
from litellm import CustomLLM
from litellm.types.utils import ChatCompletionMessageToolCall, Choices, Function, Message, ModelResponse, Usage

_serial = itertools.count(1)
_lock = threading.Lock()


def _next():
    with _lock:
        return next(_serial)


def _text(content):
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _country(messages):
    for m in reversed(messages):
        if m.get("role") == "user":
            found = re.findall(r"\b(France|Japan|Kenya|Brazil|Spain|Italy|Germany|[A-Z][a-z]+)\b", _text(m.get("content")))
            if found:
                return found[-1]
    return "nowhere"


def _judge(messages, system, n):
    user = " ".join(_text(m.get("content")) for m in messages if m.get("role") == "user")
    if "ANSWER IN PROSE" in user:
        return f"The output looks fine to me, more or less. [#{n}]"
    judged = user.split("to judge", 1)[-1]
    good = "Paris" in judged
    reasoning = f"The output {'names' if good else 'does not name'} Paris. [#{n}]"
    choices = re.search(r'"choice": "<one of ([^>]+)>"', system)
    if choices:
        labels = [c.strip() for c in choices.group(1).split(",")]
        grade = {"reasoning": reasoning, "choice": labels[0] if good else labels[-1]}
    else:
        scale = re.search(r'"score": <a number from (\S+) to (\S+)>', system)
        lo, hi = (float(scale.group(1)), float(scale.group(2))) if scale else (0, 1)
        grade = {"reasoning": reasoning, "score": hi if good else lo}
    return "Here is my grade:\n```json\n" + json.dumps(grade) + "\n```"


def _answer(messages, optional_params):
    n = _next()
    last = messages[-1] if messages else {}
    system = " ".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
    tools = optional_params.get("tools") or []
    if system.startswith("You are an evaluator"):
        return _judge(messages, system, n), None
    if last.get("role") == "tool":
        return f"The capital of {_country(messages)} is {_text(last.get('content'))}. [#{n}]", None
    if tools:
        name = tools[0].get("function", {}).get("name", "tool")
        return None, [ChatCompletionMessageToolCall(id=f"call_{n}", type="function",
                                                    function=Function(name=name, arguments=json.dumps({"country": _country(messages)})))]
    if "you plan" in system.lower():
        style = re.search(r"Be ([^.]+)\.", system)
        return f"({style.group(1) if style else 'plain'}) Find the country, look its capital up, answer in one sentence. [#{n}]", None
    return f"The capital of {_country(messages)} is Paris. [#{n}]", None


def _usage(messages, text):
    prompt = sum(len(_text(m.get("content")).split()) for m in messages)
    completion = len((text or "tool call").split())
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _latency(model):
    if "slow" in (model or ""):
        time.sleep(0.2)


_asked = set()


def _limit(model, messages):
    if "limited" not in (model or ""):
        return
    key = json.dumps(messages, sort_keys=True, default=str)
    with _lock:
        first = key not in _asked
        _asked.add(key)
    if first:
        raise litellm.RateLimitError(message="wtbmock: rate limit reached (the first ask of each prompt is refused)",
                                      llm_provider="wtbmock", model=model)


class Scripted(CustomLLM):
    def completion(self, model, messages, *args, optional_params=None, model_response=None, **kwargs):
        _limit(model, messages)
        _latency(model)
        text, calls = _answer(messages, optional_params or {})
        msg = Message(content=text, role="assistant", tool_calls=calls)
        return ModelResponse(model=model, choices=[Choices(index=0, message=msg, finish_reason="tool_calls" if calls else "stop")],
                             usage=_usage(messages, text))

    async def acompletion(self, model, messages, *args, **kwargs):
        if "slow" in (model or ""):
            import asyncio
            await asyncio.sleep(0.2)  # without holding up the proxy's other calls
            model = model.replace("slow", "")
        return self.completion(model, messages, *args, **kwargs)

    def streaming(self, model, messages, *args, optional_params=None, **kwargs):
        _limit(model, messages)
        _latency(model)
        text, calls = _answer(messages, optional_params or {})
        if calls:
            c = calls[0]
            yield {"text": "", "tool_use": {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}, "index": 0},
                   "is_finished": True, "finish_reason": "tool_calls", "usage": None, "index": 0}
            return
        pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            u = _usage(messages, text) if last else None
            yield {"text": piece, "tool_use": None, "is_finished": last, "finish_reason": "stop" if last else "", "index": 0,
                   "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens} if u else None}
            time.sleep(0.002)

    async def astreaming(self, *args, **kwargs):
        for chunk in self.streaming(*args, **kwargs):
            yield chunk


handler = Scripted()
