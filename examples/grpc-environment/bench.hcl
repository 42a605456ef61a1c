# The quickstart's QA sweep, executed by an external service over gRPC.
#
#   export WTB_REMOTE_TOKEN=change-me
#   bin/examples/grpc-environment --listen 127.0.0.1:7070 &
#   bin/wtb run examples/grpc-environment/bench.hcl
#   bin/wtb parity examples/grpc-environment/bench.hcl --runners local,remote

wtb {
  plugin_dir = "../../bin/plugins"
}

variable "address" {
  type    = string
  default = "127.0.0.1:7070"
}

runner "remote" {
  plugin    = "grpc"
  address   = var.address
  token_env = "WTB_REMOTE_TOKEN"
}

runner "local" {
  plugin = "pool"
}

environment "remote" {
  plugin    = "grpc"
  address   = var.address
  token_env = "WTB_REMOTE_TOKEN"
}

workflow "qa" {
  node "retrieve" {
    command = ["../../bin/examples/qa", "retrieve"]
    params  = { k = 2 }
    variant "keyword" { params = { mode = "keyword" } }
    variant "bm25" { params = { mode = "bm25" } }
  }
  node "answer" {
    depends_on = ["retrieve"]
    command    = ["../../bin/examples/qa", "answer"]
    variant "terse" { params = { style = "terse" } }
    variant "verbose" { params = { style = "verbose" } }
  }
}

batch_test "qa-remote" {
  workflow    = workflow.qa
  runner      = runner.remote
  environment = environment.remote
  cases       = "../quickstart/cases.jsonl"

  evaluator "correct" {
    type   = "json_path_equals"
    path   = "$.answer"
    expect = "$.expected.answer"
  }
  threshold {
    overall_score = 0.75
    applies_to    = "best"
  }
}
