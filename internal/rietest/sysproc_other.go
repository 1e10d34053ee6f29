//go:build !linux

package rietest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
