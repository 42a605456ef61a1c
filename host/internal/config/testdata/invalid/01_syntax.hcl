# want: Argument or block definition required @ 3:1
runner "x" { plugin = "pool" }
}
