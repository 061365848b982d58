package stdio

import "syscall"

// sysProcAttr puts a worker in a process group of its own, and has the
// kernel kill it if Caddy dies without stopping it (SIGKILL, a crash).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
