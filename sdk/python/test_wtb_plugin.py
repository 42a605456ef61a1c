"""Tests of wtb_plugin's pure parts. The plugins themselves are tested by the
Go conformance kit and real batches (host/internal/e2e/python_test.go), which
also runs this file with the Python plugin runtime."""

import json
import logging
import unittest

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from wtb_plugin import Case, ExecuteRequest, Node, merge_patch, node_input, run_key
from wtb_plugin._serve import HclogFormatter, encode_stdio_data


class MergePatchTest(unittest.TestCase):
    def test_rfc7386(self):
        self.assertEqual(merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"b": {"c": None, "e": 3}, "f": [1]}),
                         {"a": 1, "b": {"d": 2, "e": 3}, "f": [1]})
        self.assertEqual(merge_patch({"a": 1}, {"a": None}), {})
        self.assertEqual(merge_patch({"a": {"b": 1}}, {"a": 5}), {"a": 5})

    def test_does_not_change_the_target(self):
        target = {"a": {"b": 1}}
        merge_patch(target, {"a": {"c": 2}})
        self.assertEqual(target, {"a": {"b": 1}})


class NodeInputTest(unittest.TestCase):
    def test_like_a_command_node(self):
        req = ExecuteRequest(
            execution_id="x", execution_key="k", attempt=2, batch_id="b", combination="answer=t,retrieve=bm25",
            variants={"retrieve": "bm25", "answer": "t", "prepare": ""},
            case=Case(id="c1", input={"q": 1}, expected={"secret": True}), repeat_index=1,
            nodes=[Node(name="retrieve", kind="python", params={"k": 2}, variant="bm25"),
                   Node(name="answer", kind="python", variant="t")],
            start_state={"q": 1})
        doc = node_input(req, 0, {"q": 1})
        self.assertEqual(doc, {
            "state": {"q": 1}, "params": {"k": 2}, "case": {"id": "c1", "input": {"q": 1}}, "node": "retrieve",
            "variant": "bm25", "execution": {"key": "c1/1/retrieve=bm25", "repeat": 1, "variants": {"retrieve": "bm25"}},
        })
        # The answer key and the attempt never reach a node.
        self.assertNotIn("secret", json.dumps(doc))
        self.assertEqual(node_input(req, 1, {})["execution"]["key"], "c1/1/answer=t,retrieve=bm25")

    def test_run_key_without_variants(self):
        self.assertEqual(run_key("c", 0, {}), "c/0")


class StdioTest(unittest.TestCase):
    def test_encodes_go_plugins_stdio_data(self):
        # go-plugin's plugin.StdioData, built from its descriptor.
        f = descriptor_pb2.FileDescriptorProto(name="stdio_test.proto", package="plugin", syntax="proto3")
        m = f.message_type.add(name="StdioData")
        e = m.enum_type.add(name="Channel")
        for i, n in enumerate(["INVALID", "STDOUT", "STDERR"]):
            e.value.add(name=n, number=i)
        m.field.add(name="channel", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_ENUM,
                    type_name=".plugin.StdioData.Channel", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        m.field.add(name="data", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(f)
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("plugin.StdioData"))
        for channel, data in ((1, b"hello\n"), (2, b"x" * 300), (1, bytes(range(256)) * 5)):
            msg = cls.FromString(encode_stdio_data(channel, data))
            self.assertEqual((msg.channel, msg.data), (channel, data))


class HclogTest(unittest.TestCase):
    def test_one_json_object_per_record(self):
        rec = logging.LogRecord("wtb_plugin", logging.WARNING, __file__, 1, "the %s is gone", ("host",), None)
        rec.kv = {"pid": 7}
        entry = json.loads(HclogFormatter("runner-x").format(rec))
        self.assertEqual(entry["@level"], "warn")
        self.assertEqual(entry["@message"], "the host is gone")
        self.assertEqual(entry["@module"], "runner-x")
        self.assertEqual(entry["pid"], 7)
        # go-plugin parses this exact layout (time.Parse "2006-01-02T15:04:05.000000Z07:00").
        self.assertRegex(entry["@timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


if __name__ == "__main__":
    unittest.main()
