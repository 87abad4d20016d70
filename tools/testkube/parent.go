package main

import (
	"os"
	"syscall"
	"time"
)

// watchParent makes a test server exit when the process that started it goes away (a test run killed
// with SIGKILL would otherwise leave etcd/apiservers holding ports and data dirs). It sends itself
// SIGTERM, so each component shuts down the way it normally does, and exits hard if that hangs.
// TESTKUBE_EXIT_WITH_PARENT=0 turns it off.
func watchParent() {
	if os.Getenv("TESTKUBE_EXIT_WITH_PARENT") == "0" {
		return
	}
	ppid := os.Getppid()
	if ppid <= 1 {
		return
	}
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if os.Getppid() != ppid {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				time.Sleep(15 * time.Second)
				os.Exit(1)
			}
		}
	}()
}
