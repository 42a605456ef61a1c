# want: Unsupported argument @ 13:5
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  evaluator "lat" {
    type    = "latency"
    max_ms  = 10
    pattern = "x"
  }
}
