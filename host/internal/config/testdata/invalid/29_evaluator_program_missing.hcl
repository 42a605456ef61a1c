# want: Evaluator program not found @ 12:15
runner "r" { plugin = "pool" }
workflow "w" {
  node "a" { kind = "merge" }
}
batch_test "t" {
  workflow = workflow.w
  runner   = runner.r
  case "c" { input = {} }
  evaluator "judge" {
    type    = "command"
    command = ["no-such-scorer-program", "--strict"]
  }
}
