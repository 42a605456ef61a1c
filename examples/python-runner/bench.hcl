# The quickstart's question answering with both plugins written in Python:
# the runner runs the nodes as Python functions in its own process
# (examples/python-runner/runner.py), the environment provider gives each
# variant a working directory (examples/python-env/provider.py).
#
#   make build      # also writes the two plugins' launchers into bin/plugins
#   bin/wtb run examples/python-runner/bench.hcl

wtb {
  plugin_dir = "../../bin/plugins"
}

runner "python" {
  plugin          = "python-example" # bin/plugins/wtb-runner-python-example
  max_concurrency = 4
}

environment "sandbox" {
  plugin = "python-example" # bin/plugins/wtb-env-python-example
  env    = { QA_LOG = "1" }
  files  = { "stopwords.txt" = "the is of a what which in on its and" }
}

workflow "qa" {
  node "prepare" {
    kind   = "merge"
    params = { pipeline = "python-runner" }
  }

  node "retrieve" {
    depends_on = ["prepare"]
    kind       = "python"
    command    = ["${path.root}/nodes.py", "retrieve"] # file, function
    timeout    = "5s"
    params     = { k = 2 }
    variant "keyword" { params = { mode = "keyword" } }
    variant "bm25" { params = { mode = "bm25" } }
  }

  node "answer" {
    depends_on = ["retrieve"]
    kind       = "python"
    command    = ["${path.root}/nodes.py", "answer"]
    timeout    = "5s"
    variant "terse" { params = { style = "terse" } }
    variant "verbose" { params = { style = "verbose" } }
  }
}

batch_test "python-qa" {
  workflow    = workflow.qa
  runner      = runner.python
  environment = environment.sandbox

  cases  = "../quickstart/cases.jsonl"
  repeat = 2

  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
    weight = 3
  }
  evaluator "mentions" {
    type   = "contains"
    path   = "$.answer"
    expect = "$.expected.answer"
  }

  threshold {
    overall_score = 0.75
    applies_to    = "best"
  }
}
