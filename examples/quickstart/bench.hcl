# Quickstart: which retriever and which answer style answer questions best?
#
#   make demo                 # builds everything and runs this file
#   bin/wtb run examples/quickstart/bench.hcl
#
# The nodes are a small Go program (qa/) built into bin/examples/qa by `make build`.

wtb {
  plugin_dir = "../../bin/plugins" # relative to this file
}

variable "top_k" {
  type        = number
  default     = 2
  description = "How many passages the retriever returns (--var top_k=3)."
}

locals {
  qa = "../../bin/examples/qa"
}

runner "local" {
  plugin      = "pool" # wtb-runner-pool: a goroutine pool on this machine
  max_workers = 8
}

environment "sandbox" {
  plugin = "local" # wtb-env-local: a private working directory per variant
  env    = { QA_LOG = "1" }
}

workflow "qa" {
  node "prepare" {
    kind   = "merge" # built in: merges its params into the state, no process
    params = { pipeline = "quickstart", top_k = var.top_k }
  }

  node "retrieve" {
    depends_on = ["prepare"]
    command    = [local.qa, "retrieve"]
    timeout    = "5s"
    params     = { k = var.top_k }
    variant "keyword" { params = { mode = "keyword" } }
    variant "bm25" { params = { mode = "bm25" } }
  }

  node "answer" {
    depends_on = ["retrieve"]
    command    = [local.qa, "answer"]
    timeout    = "5s"
    variant "terse" { params = { style = "terse" } }
    variant "verbose" { params = { style = "verbose" } }
  }
}

batch_test "qa-sweep" {
  workflow    = workflow.qa
  runner      = runner.local
  environment = environment.sandbox

  cases       = "cases.jsonl" # {"id", "input", "expected"} per line
  repeat      = 2
  timeout     = "30s"
  max_retries = 2
  max_pending = 32

  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer" # taken from the case
    weight = 3
  }
  evaluator "mentions" {
    type   = "contains"
    path   = "$.answer"
    expect = "$.expected.answer"
  }
  evaluator "grounded" {
    type    = "regex"
    path    = "$.passages[0]"
    pattern = "\\bis\\b"
  }
  evaluator "fast" {
    type   = "latency"
    max_ms = 2000
  }

  threshold {
    overall_score = 0.75
    applies_to    = "best" # the best combination must reach it
  }
}
