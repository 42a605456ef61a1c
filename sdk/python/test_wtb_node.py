"""Tests of wtb_node (python3 -m unittest, run by `go test ./sdk/node`)."""

import io
import json
import os
import unittest
from unittest import mock

import wtb_node


def run(fn, text, worker):
    stdin, stdout, stderr = io.StringIO(text), io.StringIO(), io.StringIO()
    env = {"WTB_WORKER": "1"} if worker else {}
    with mock.patch.dict(os.environ, env, clear=False):
        if not worker:
            os.environ.pop("WTB_WORKER", None)
        with self_exit() as code:
            wtb_node.serve(fn, stdin, stdout, stderr)
    return code[0], stdout.getvalue(), stderr.getvalue()


class self_exit:
    def __enter__(self):
        self.code = [None]
        return self.code

    def __exit__(self, typ, value, tb):
        if typ is SystemExit:
            self.code[0] = value.code
            return True
        return False


def answer(request):
    print("thinking about", request["state"]["q"])  # goes to stderr
    if request["state"]["q"] == "boom":
        raise ValueError("no answer")
    if request["state"]["q"] == "later":
        raise wtb_node.Retryable("rate limited")
    return {"answer": request["state"]["q"].upper()}


def request(q):
    return json.dumps({"state": {"q": q}, "params": {}, "node": "n"})


class OneShot(unittest.TestCase):
    def test_output(self):
        code, out, err = run(answer, request("paris"), worker=False)
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out), {"answer": "PARIS"})
        self.assertIn("thinking about paris", err)

    def test_failure_and_retryable(self):
        self.assertEqual(run(answer, request("boom"), worker=False)[0], 1)
        self.assertEqual(run(answer, request("later"), worker=False)[0], 75)
        self.assertEqual(run(answer, "not json", worker=False)[0], 1)

    def test_must_return_a_dict(self):
        code, _, err = run(lambda r: [1], request("x"), worker=False)
        self.assertEqual(code, 1)
        self.assertIn("must return a dict", err)


class Worker(unittest.TestCase):
    def test_one_answer_per_line(self):
        text = "\n".join([request("a"), request("boom"), request("later"), request("b")]) + "\n"
        code, out, err = run(answer, text, worker=True)
        self.assertEqual(code, 0)
        answers = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(answers[0], {"answer": "A"})
        self.assertEqual(answers[1]["$retryable"], False)
        self.assertIn("no answer", answers[1]["$error"])
        self.assertEqual(answers[2], {"$error": "rate limited", "$retryable": True})
        self.assertEqual(answers[3], {"answer": "B"})
        self.assertIn("thinking about b", err)
        self.assertNotIn("thinking", out)


if __name__ == "__main__":
    unittest.main()
