# want: Unknown evaluator type @ 11:12
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  evaluator "e" {
    type = "equal"
    expect = 1
  }
}
