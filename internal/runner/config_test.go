package runner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Workers != 1 || c.Queue != 16 || c.Timeout != time.Hour || c.MaxOutput != 1<<20 ||
		c.ProgressInterval != 2*time.Second || c.KillGrace != 3*time.Second ||
		c.SessionTimeout != time.Hour || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	c = Config{Queue: -1, SessionTimeout: -1}.withDefaults()
	if c.Queue != 0 || c.SessionTimeout != 0 {
		t.Errorf("negative queue and session timeout: %+v", c)
	}
}

// writeExe writes an executable file.
func writeExe(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestDetect(t *testing.T) {
	root := t.TempDir()
	noPath := func(string) (string, error) { return "", errors.New("not found") }

	if _, err := detect(noPath, []string{filepath.Join(root, "stata*")}); !errors.Is(err, ErrStataNotFound) {
		t.Errorf("nothing installed: %v", err)
	}

	writeExe(t, filepath.Join(root, "stata17", "stata-se"))
	writeExe(t, filepath.Join(root, "stata18", "stata"))
	writeExe(t, filepath.Join(root, "stata18", "stata-se"))
	if err := os.WriteFile(filepath.Join(root, "stata18", "stata-mp"), nil, 0o644); err != nil { // not executable
		t.Fatal(err)
	}
	got, err := detect(noPath, []string{filepath.Join(root, "stata*")})
	if want := filepath.Join(root, "stata18", "stata-se"); err != nil || got != want {
		t.Errorf("detect = %q, %v; want %q (an executable stata-se before stata, newer versions first)", got, err, want)
	}

	onPath := func(name string) (string, error) {
		if name == "stata" {
			return "/usr/bin/stata", nil
		}
		return "", errors.New("not found")
	}
	if got, _ := detect(onPath, []string{filepath.Join(root, "stata*")}); got != "/usr/bin/stata" {
		t.Errorf("PATH first: got %q", got)
	}
}

func TestWorkDir(t *testing.T) {
	if _, err := prepareWorkDir(filepath.Join(t.TempDir(), "with space")); err == nil {
		t.Error("a work_dir with a space was accepted")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	got, err := prepareWorkDir(dir)
	if err != nil || got != dir {
		t.Fatalf("prepareWorkDir = %q, %v", got, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("not created: %v", err)
	}

	t.Setenv("TMPDIR", t.TempDir())
	def, err := defaultWorkDir()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := defaultWorkDir(); err != nil || again != def {
		t.Errorf("second call: %q, %v", again, err)
	}
	if err := os.Chmod(def, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := defaultWorkDir(); err == nil {
		t.Error("a world-writable default work_dir was accepted")
	}
}
