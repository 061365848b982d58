package integration

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fileMarker is the line that, in README.md, stands right before a fenced
// block whose content is the file it names, byte for byte.
const fileMarker = "<!-- file: "

// readmeBlocks returns README.md's blocks that a fileMarker line names a
// file for: the file's path (relative to the repository) and the block's
// content, each line with its newline.
func readmeBlocks(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	blocks := map[string]string{}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\n")
		if !strings.HasPrefix(line, fileMarker) {
			continue
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(line, fileMarker), " -->")
		if !ok || name == "" {
			t.Fatalf("README.md:%d: a file marker must read %sexamples/NAME -->", i+1, fileMarker)
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("README.md:%d: %s is not followed by a fenced block", i+1, name)
		}
		var block strings.Builder
		j := i + 2
		for ; j < len(lines) && strings.TrimRight(lines[j], "\n") != "```"; j++ {
			block.WriteString(lines[j])
		}
		if j == len(lines) {
			t.Fatalf("README.md:%d: the block of %s never ends", i+2, name)
		}
		if _, dup := blocks[name]; dup {
			t.Fatalf("README.md:%d: %s shown twice", i+1, name)
		}
		blocks[name] = block.String()
		i = j
	}
	return blocks
}

// TestREADMEFiles checks that every block README.md marks with a file is
// that file byte for byte, so that what the tests run is what the README
// shows; and that every file under examples/ is shown in the README or run
// by a test of this folder, so that none is left unchecked.
func TestREADMEFiles(t *testing.T) {
	blocks := readmeBlocks(t)
	if len(blocks) == 0 {
		t.Fatal("README.md marks no block with a file")
	}
	for name, block := range blocks {
		want, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Errorf("README.md shows %s: %v", name, err)
			continue
		}
		if block != string(want) {
			t.Errorf("README.md's block of %s differs from the file; copy the file into the block:\n%s", name, want)
		}
	}
	var tests strings.Builder
	testFiles, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range testFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(b)
	}
	err = filepath.WalkDir("../examples", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(path), "../")
		if _, shown := blocks[rel]; !shown && !strings.Contains(tests.String(), filepath.Base(rel)) {
			t.Errorf("%s is neither shown in README.md nor named by a test in integration/", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestREADMETypeScriptClient runs the README's TypeScript client,
// examples/client.mjs, against the README's demo (Caddyfile.example), saved
// as .mjs and as .js in a package of "type": "module" as the README says:
// each prints the run's progress and its result, although its request
// timeout (5 s) is a third of the run, and exits by itself.
func TestREADMETypeScriptClient(t *testing.T) {
	src, err := os.ReadFile("../examples/client.mjs")
	if err != nil {
		t.Fatal(err)
	}
	_, port := startExample(t)
	const url = "http://localhost:8080/mcp"
	if !strings.Contains(string(src), url) {
		t.Fatalf("examples/client.mjs does not call %s; update this test with it", url)
	}
	code := strings.ReplaceAll(string(src), url, fmt.Sprintf("http://localhost:%d/mcp", port))
	for _, ext := range []string{".mjs", ".js"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			// In integration/ts, whose package.json says "type": "module"
			// and whose node_modules holds the SDK, as the user's own
			// folder would after `npm install @modelcontextprotocol/sdk`.
			f, err := os.CreateTemp(tsDir, "readme-client-*"+ext)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(f.Name()) })
			if _, err := f.WriteString(code); err != nil {
				t.Fatal(err)
			}
			f.Close()
			out := runExampleClient(t, "node", f.Name())
			assertProgressPrinted(t, out)
			for _, want := range []string{"started in the session of Stata pid ", "\nhello\n", "\ndone\n", "end of do-file"} {
				if !strings.Contains(out, want) {
					t.Fatalf("the output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestREADMEGoClient runs the README's Go client, examples/go-client,
// against the README's demo: it prints progress and the result.
func TestREADMEGoClient(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "go-client")
	if err := command("go", "build", "-o", bin, "./examples/go-client"); err != nil {
		t.Fatal(err)
	}
	_, port := startExample(t)
	out := runExampleClient(t, bin, fmt.Sprintf("http://localhost:%d/mcp", port))
	assertProgressPrinted(t, out)
	for _, want := range []string{"started in the session of Stata pid ", "\nhello\n", "\ndone\n", "end of do-file"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the output lacks %q:\n%s", want, out)
		}
	}
}

// runExampleClient runs an example client to its end, which must come by
// itself within a minute with exit status 0, and returns its output.
func runExampleClient(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = tsDir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s did not exit within a minute:\n%s", name, out)
	}
	if err != nil {
		t.Fatalf("%s: %v after %v:\n%s", name, err, time.Since(start), out)
	}
	if d := time.Since(start); d < 15*time.Second {
		t.Fatalf("%s ended after %v; the run sleeps 15 s:\n%s", name, d, out)
	}
	return string(out)
}

// assertProgressPrinted fails unless an example client printed the message
// of at least three progress notifications over its 15 s run that name the
// command running, the sleep: the runner reports every 2 s, its messages
// `line 2/3: sleep 15000 (last output: hello)`. They come before the result,
// whose text begins with "Stata ran".
func assertProgressPrinted(t *testing.T, out string) {
	t.Helper()
	progress, _, ok := strings.Cut(out, "Stata ran")
	if !ok {
		t.Fatalf("no result in the output:\n%s", out)
	}
	if n := strings.Count(progress, ": sleep 15000"); n < 3 {
		t.Fatalf("%d progress lines name the sleep over a 15 s run:\n%s", n, out)
	}
}

// TestREADMEPortClash runs the README's answer to a taken port 4000, the
// sed line of the demo section, on a copy of Caddyfile.example: the result
// names the new port wherever the runner is reached, both sites, and is
// valid.
func TestREADMEPortClash(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const line = "`sed -i 's/localhost:4000/localhost:4001/g' Caddyfile.example`"
	if !strings.Contains(string(readme), line) {
		t.Fatalf("README.md no longer has %s; update this test with it", line)
	}
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile.example"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", strings.Trim(line, "`"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	stdout, stderr, code := runBinary(t, "adapt", "--config", filepath.Join(dir, "Caddyfile.example"))
	if code != 0 {
		t.Fatalf("adapting the changed Caddyfile.example: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout, ":4000") || strings.Count(stdout, ":4001") < 3 {
		t.Fatalf("want the runner's listeners and the reverse_proxy upstream on 4001, and nothing on 4000:\n%s", stdout)
	}
}

// TestExampleCaddyfilesFormatted checks that each Caddyfile under examples/
// is as `caddy-stata fmt` writes it: Caddy warns at every load of one that
// is not, which would bury the warnings that matter.
func TestExampleCaddyfilesFormatted(t *testing.T) {
	files, err := filepath.Glob("../examples/*.Caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Caddyfile under examples/: %v", err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runBinary(t, "fmt", f)
		if code != 0 || stdout != string(want) {
			t.Errorf("%s is not formatted (exit %d): run caddy-stata fmt --overwrite %s\n%s", f, code, f, stderr)
		}
	}
}
