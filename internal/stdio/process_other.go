//go:build unix && !linux

package stdio

import "syscall"

// sysProcAttr puts a worker in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
