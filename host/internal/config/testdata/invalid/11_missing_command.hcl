# want: Missing command @ 3:3
workflow "w" {
  node "a" {
    params = {}
  }
}
