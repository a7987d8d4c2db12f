package hostile

import "syscall"

// deathSignal kills the measured child if the spawner dies (a timeout).
func deathSignal() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
