package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// dockerInstruction is one instruction of a Dockerfile: its keyword in
// upper case and the rest of its line, continuation lines joined.
type dockerInstruction struct {
	Keyword, Args string
}

// readDockerfile returns the instructions of ../Dockerfile.
func readDockerfile(t *testing.T) []dockerInstruction {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if rest, cont := strings.CutSuffix(trimmed, "\\"); cont {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		keyword, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{strings.ToUpper(keyword), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// TestDockerfileLint lints the Dockerfile with dockerfile-utils, the
// linter of VS Code's Docker support (integration/ts installs it from npm:
// four small packages, no native code), since hadolint is not packaged for
// Debian and no Docker engine runs here. Any problem it reports fails.
func TestDockerfileLint(t *testing.T) {
	cmd := exec.Command("node", filepath.Join("node_modules", "dockerfile-utils", "bin", "dockerfile-utils"), "lint", "../../Dockerfile")
	cmd.Dir = tsDir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("dockerfile-utils lint: %v\n%s", err, out)
	}
}

// TestDockerfileShape checks what the linter does not: two stages, a
// static binary, a user without privileges, the demo's port, a health check
// that the binary runs itself (the image has no shell or curl), and files
// copied in that exist and that .dockerignore lets through.
func TestDockerfileShape(t *testing.T) {
	ins := readDockerfile(t)
	var froms, finalStage int
	for i, in := range ins {
		if in.Keyword == "FROM" {
			froms++
			finalStage = i
		}
	}
	if froms < 2 {
		t.Fatalf("%d FROM, want a multi-stage build", froms)
	}
	find := func(keyword string, from int) []dockerInstruction {
		var found []dockerInstruction
		for _, in := range ins[from:] {
			if in.Keyword == keyword {
				found = append(found, in)
			}
		}
		return found
	}
	build := slices.IndexFunc(ins, func(in dockerInstruction) bool {
		return in.Keyword == "RUN" && strings.Contains(in.Args, "go build") && strings.Contains(in.Args, "./cmd/caddy-stata")
	})
	cgo := slices.IndexFunc(ins, func(in dockerInstruction) bool {
		return in.Keyword == "ENV" && strings.Contains(in.Args, "CGO_ENABLED=0")
	})
	if build < 0 || cgo < 0 || cgo > build || build > finalStage {
		t.Fatalf("want ENV CGO_ENABLED=0 before RUN go build ./cmd/caddy-stata in the build stage")
	}
	users := find("USER", finalStage)
	if len(users) != 1 || !regexp.MustCompile(`^[1-9][0-9]*(:[1-9][0-9]*)?$`).MatchString(users[0].Args) {
		t.Fatalf("final stage USER %v, want one numeric user that is not root", users)
	}
	if exposes := find("EXPOSE", finalStage); len(exposes) != 1 || exposes[0].Args != "8080" {
		t.Fatalf("EXPOSE %v, want 8080", exposes)
	}
	hc := find("HEALTHCHECK", finalStage)
	if len(hc) != 1 || !strings.Contains(hc[0].Args, `CMD ["/usr/bin/caddy-stata", "health", "http://localhost:4000/mcp"]`) {
		t.Fatalf("HEALTHCHECK %v, want the exec form of caddy-stata health on the demo's runner", hc)
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range find("COPY", 0) {
		if strings.Contains(in.Args, "--from=") {
			continue
		}
		fields := strings.Fields(in.Args)
		for _, src := range fields[:len(fields)-1] {
			if src == "." {
				continue
			}
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("COPY %s: %v", src, err)
			}
			for _, pat := range strings.Split(string(ignore), "\n") {
				if pat = strings.TrimSpace(pat); pat != "" && !strings.HasPrefix(pat, "#") && strings.HasPrefix(src, strings.Trim(pat, "/")) {
					t.Errorf("COPY %s, which .dockerignore leaves out (%s)", src, pat)
				}
			}
		}
	}
}

// TestDockerImageConfig runs the image's config, examples/docker.Caddyfile,
// with this machine's ports and stand-in: a long tool call goes through its
// front door, and the image's HEALTHCHECK command, `caddy-stata health`,
// exits 0 on the runner's report and 1 where nothing answers.
func TestDockerImageConfig(t *testing.T) {
	b, err := os.ReadFile("../examples/docker.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	front, runner, admin := freePort(t), freePort(t), freePort(t)
	cfg := string(b)
	for _, r := range []struct{ old, new string }{
		{"admin localhost:2019", fmt.Sprintf("admin 127.0.0.1:%d\n\tpersist_config off", admin)},
		{"localhost:4000", fmt.Sprintf("localhost:%d", runner)},
		{"http://:8080 {", fmt.Sprintf("http://:%d {", front)},
		{"stata /usr/bin/stata-standin", "stata " + standin},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("examples/docker.Caddyfile has no %q; update this test with it", r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	c := startCaddyfile(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", front), fmt.Sprintf("127.0.0.1:%d", admin))
	o := tsCall(t, c.URL+"/mcp", "stata_run_selection", map[string]any{"code": "sleep 6000\ndisplay \"done\""},
		map[string]any{"timeoutMs": 10000})
	if !o.OK || o.IsError || !strings.Contains(o.Text, "\ndone\n") {
		t.Fatalf("call through the image's config: %s %s", o.Err, o.Text)
	}
	for _, tt := range []struct {
		name, url string
		code      int
		want      string
	}{
		{"the runner's report", fmt.Sprintf("http://localhost:%d/mcp", runner), 0, `"workers":1`},
		{"a host no site serves (Caddy's empty 200)", fmt.Sprintf("http://127.0.0.1:%d/mcp", runner), 1, "without a JSON health report"},
		{"nothing listening", fmt.Sprintf("http://localhost:%d/mcp", freePort(t)), 1, "connection refused"},
	} {
		stdout, stderr, code := runBinary(t, "health", tt.url)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("health of %s: exit %d, want %d and %q:\n%s%s", tt.name, code, tt.code, tt.want, stdout, stderr)
		}
	}
}

// TestDockerCompose reads docker-compose.yml (the docker compose plugin is
// not installed here): one service built from the Dockerfile, its port on
// the host's loopback only, without capabilities or a writable root.
func TestDockerCompose(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build       string   `yaml:"build"`
			Ports       []string `yaml:"ports"`
			ReadOnly    bool     `yaml:"read_only"`
			CapDrop     []string `yaml:"cap_drop"`
			SecurityOpt []string `yaml:"security_opt"`
			Volumes     []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["caddy-stata"]
	if !ok || len(compose.Services) != 1 {
		t.Fatalf("want one service caddy-stata, got %v", compose.Services)
	}
	if svc.Build != "." {
		t.Errorf("build %q, want the Dockerfile beside it", svc.Build)
	}
	if !slices.Equal(svc.Ports, []string{"127.0.0.1:8080:8080"}) {
		t.Errorf("ports %q, want the demo's 8080 on the host's loopback only", svc.Ports)
	}
	if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") || !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("want read_only, cap_drop ALL and no-new-privileges: %+v", svc)
	}
	for _, dir := range []string{":/data", ":/config"} {
		if !slices.ContainsFunc(svc.Volumes, func(v string) bool { return strings.HasSuffix(v, dir) }) {
			t.Errorf("no volume for %s, which Caddy writes to", dir)
		}
	}
}

// TestDockerBuild builds the image and validates its config inside it,
// where a Docker engine runs; here there is none, so it says so and skips.
func TestDockerBuild(t *testing.T) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine to build with (docker info: %v: %s); the Dockerfile is linted and checked above", err, bytes.TrimSpace(out))
	}
	tag := fmt.Sprintf("caddy-stata-test:%d", os.Getpid())
	if err := command("docker", "build", "-t", tag, "."); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := exec.Command("docker", "run", "--rm", tag, "validate", "--config", "/etc/caddy-stata/Caddyfile", "--adapter", "caddyfile").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("validating the image's config in the image: %v\n%s", err, out)
	}
}

// TestSystemdUnit checks contrib/caddy-stata.service with systemd-analyze
// where it is installed: `verify` must print nothing (it reports unknown
// keys and bad values as warnings), and the offline security review must
// rate the unit's exposure at most 2.5 of 10.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	b, err := os.ReadFile("../contrib/caddy-stata.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"User=caddy-stata", "ProtectSystem=strict", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "NoNewPrivileges=yes", "EnvironmentFile=/etc/caddy-stata/env",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	if strings.Contains(string(b), "run --environ") {
		t.Error("the unit runs with --environ, which prints MCP_TOKEN into the journal")
	}
	// verify checks that the commands exist: point them at the built binary.
	unit := filepath.Join(t.TempDir(), "caddy-stata.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/caddy-stata"), []byte(binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=25", unit).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze security: exposure over 2.5: %v\n%s", err, out)
	}
}
