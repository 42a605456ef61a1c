# want: Invalid duration @ 5:15
workflow "w" {
  node "a" {
    command = ["true"]
    timeout = "5 seconds"
  }
}
