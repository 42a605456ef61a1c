// Command garbage prints to stdout before any handshake, as a broken plugin or
// a program that is not a plugin at all would.
package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Println("hello from a program that is not a plugin")
	time.Sleep(time.Minute)
}
