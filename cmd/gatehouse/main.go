// Command gatehouse runs an mTLS MQTT endpoint and the certificates that
// guard it: a bbolt certificate store and small PKI, a mochi-mqtt broker with
// live enforcement, an admin socket and an operator TUI, in one binary.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
