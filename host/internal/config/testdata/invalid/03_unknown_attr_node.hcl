# want: Unsupported argument @ 5:5
workflow "w" {
  node "a" {
    command = ["true"]
    comand  = ["true"]
  }
}
