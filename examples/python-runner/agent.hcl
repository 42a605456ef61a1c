# A tool-using agent in a Python node (examples/python-runner/agent.py): its
# planner turns and tool calls are OpenTelemetry spans, which the Python runner
# sends back with each node run. `wtb show` draws them and lists the tool
# calls; the trajectory evaluators below score which tools each variant called.
#
#   make build      # writes the plugin's launcher into bin/plugins
#   bin/wtb run examples/python-runner/agent.hcl
#   bin/wtb show --batch ID policy=eager/product/0   # the spans, the tool calls

wtb {
  plugin_dir = "../../bin/plugins"
}

runner "python" {
  plugin          = "python-example" # bin/plugins/wtb-runner-python-example
  max_concurrency = 8
}

workflow "agent" {
  node "agent" {
    kind    = "python"
    command = ["${path.root}/agent.py", "agent"] # file, function
    timeout = "10s"
    variant "planned" { params = { policy = "planned" } } # the one tool the question needs
    variant "eager" { params = { policy = "eager" } }     # searches first, whatever the question
  }
}

batch_test "python-agent" {
  workflow = workflow.agent
  runner   = runner.python

  cases  = "agent-cases.jsonl"
  repeat = 2

  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
  }
  # The tools called, read from the node run's execute_tool spans, against
  # the case's expected.tools in that order.
  evaluator "tools" {
    type   = "trajectory"
    expect = "$.expected.tools"
    match  = "strict"
    node   = "agent"
  }
  evaluator "turns" {
    type = "step_count"
    max  = 1 # planner turns (chat spans)
  }

  threshold {
    overall_score = 0.7
    applies_to    = "best"
  }
}
