# want: Unsupported block type @ 2:1
runnr "x" { plugin = "pool" }
