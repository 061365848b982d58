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

// installTS runs npm ci in dir unless node_modules is already installed from
// the same lock file (npm records it in node_modules/.package-lock.json).
func installTS(dir string) error {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	installed, err := os.ReadFile(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err == nil && bytes.Contains(installed, []byte(`"node_modules/@modelcontextprotocol/sdk"`)) &&
		sameVersions(lock, installed) {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	return runCmd(cmd)
}

// sameVersions reports whether the installed tree has the SDK version the
// lock file pins.
func sameVersions(lock, installed []byte) bool {
	return sdkVersion(lock) != "" && sdkVersion(lock) == sdkVersion(installed)
}

// sdkVersion finds the SDK's version in a package-lock.json.
func sdkVersion(lock []byte) string {
	i := bytes.Index(lock, []byte(`"node_modules/@modelcontextprotocol/sdk": {`))
	if i < 0 {
		return ""
	}
	rest := lock[i:]
	j := bytes.Index(rest, []byte(`"version": "`))
	if j < 0 {
		return ""
	}
	rest = rest[j+len(`"version": "`):]
	k := bytes.IndexByte(rest, '"')
	if k < 0 {
		return ""
	}
	return string(rest[:k])
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
