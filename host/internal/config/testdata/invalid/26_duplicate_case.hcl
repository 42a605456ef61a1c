# want: Duplicate case id @ 10:3
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  case "c" { input = {} }
}
