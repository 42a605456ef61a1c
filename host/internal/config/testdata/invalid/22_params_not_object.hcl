# want: Incorrect attribute value type @ 5:14
workflow "w" {
  node "a" {
    kind   = "merge"
    params = ["x"]
  }
}
