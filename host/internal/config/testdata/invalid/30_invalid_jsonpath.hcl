# want: Invalid JSON path @ 12:14
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  evaluator "e" {
    type   = "equals"
    path   = "$.answer[["
    expect = 1
  }
}
