# want: Reference to undeclared node @ 12:13
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" {
    kind = "merge"
    variant "x" {}
  }
}
batch_test "b" {
  workflow = workflow.w
  runner   = runner.r
  include { b = "x" }
  case "c" { input = {} }
}
