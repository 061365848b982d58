package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	// binary is the caddy-stata binary built by TestMain.
	binary string
	// tsDir is the folder of the TypeScript client, with node_modules.
	tsDir string
	// standin is the stand-in for Stata, built by TestMain.
	standin string
	// stdioServer is the Go SDK stdio MCP server of the mcp_stdio tests
	// (integration/stdioserver), built by TestMain.
	stdioServer string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run builds what the tests drive, runs them and cleans up.
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "caddy-stata-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "caddy-stata")
	build := []string{"build", "-o", binary}
	if raceEnabled {
		build = append(build, "-race")
	}
	build = append(build, "github.com/caddy-stata/caddy-stata/cmd/caddy-stata")
	if err := command("go", build...); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy-stata:", err)
		return 1
	}
	standin = filepath.Join(dir, "stata-standin")
	if err := command("go", "build", "-o", standin, "github.com/caddy-stata/caddy-stata/cmd/stata-standin"); err != nil {
		fmt.Fprintln(os.Stderr, "building the stand-in:", err)
		return 1
	}
	stdioServer = filepath.Join(dir, "stdioserver")
	if err := command("go", "build", "-o", stdioServer, "github.com/caddy-stata/caddy-stata/integration/stdioserver"); err != nil {
		fmt.Fprintln(os.Stderr, "building the stdio server:", err)
		return 1
	}
	tsDir, err = filepath.Abs("ts")
	if err == nil {
		err = installTS(tsDir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installing the TypeScript client:", err)
		return 1
	}
	return m.Run()
}

// installedLock is where installTS keeps, inside node_modules, a copy of the
// package-lock.json that node_modules was installed from. npm ci removes
// node_modules first, so the copy never outlives the tree it describes.
const installedLock = ".installed-package-lock.json"

// installTS runs npm ci in dir unless node_modules was installed from the
// same package-lock.json, byte for byte: a changed lock, a new package or a
// tree installed before this check (without the copy) is installed afresh.
func installTS(dir string) error {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	stamp := filepath.Join(dir, "node_modules", installedLock)
	if installed, err := os.ReadFile(stamp); err == nil && bytes.Equal(installed, lock) {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if err := runCmd(cmd); err != nil {
		return err
	}
	return os.WriteFile(stamp, lock, 0o644)
}

// command runs a command in the module's root, showing its output on failure.
func command(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = ".."
	return runCmd(cmd)
}

// runCmd runs cmd and returns an error that carries its output.
func runCmd(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", cmd.String(), err, out)
	}
	return nil
}
