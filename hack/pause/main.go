// Command pause is the real node's sandbox ("pause") process: PID 1 of every pod sandbox.
//
// It blocks until SIGTERM or SIGINT and then exits 0; as PID 1 of the pod's PID namespace (when
// the namespace is shared) it reaps orphaned children on SIGCHLD so they never linger as zombies.
// Built static (CGO_ENABLED=0) by hack/build-node.sh and packed into an image archive by
// hack/realnode.py, because no registry is reachable to pull registry.k8s.io/pause.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("quantops pause 3.10")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
