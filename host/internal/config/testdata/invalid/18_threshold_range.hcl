# want: Value out of range @ 11:21
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  threshold {
    overall_score = 1.5
  }
}
