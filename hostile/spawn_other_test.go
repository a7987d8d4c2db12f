//go:build !linux

package hostile

import "syscall"

func deathSignal() *syscall.SysProcAttr { return nil }
