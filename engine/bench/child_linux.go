package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to send the child SIGTERM when this
// process dies, however it dies: a console killed with SIGKILL leaves no
// simulated fleet holding thousands of ports.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
