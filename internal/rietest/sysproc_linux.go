package rietest

import "syscall"

// sysProcAttr ends the emulator with the test process, even one that dies
// without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
