# want: Reference to undeclared workflow @ 7:14
runner "r" { plugin = "pool" }
workflow "qa" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.qa2
  runner   = runner.r
  case "c" { input = {} }
}
