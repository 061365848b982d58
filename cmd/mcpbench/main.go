// Command mcpbench measures mcp_keepalive in the caddy-stata binary, each
// figure beside its baseline from the same run:
//
//   - pass-through: requests per second and latency of small MCP POSTs
//     (tools/list, a fast tools/call) through mcp_keepalive + reverse_proxy
//     against reverse_proxy alone, in alternating rounds;
//   - holding: many concurrent held calls for a while: resident memory per
//     call, keep-alive lateness, CPU, and whether every call got its answer;
//   - time to first byte of a held call with grace 0 and grace 1s;
//   - a large result: time and the proxy's peak memory;
//   - the stream store: memory per held call and events per second at
//     1,000 held calls, with the Redis store beside the memory store
//     (against a redis-server it starts, when one is installed).
//
// It starts caddy-stata and an upstream (this program again, in its upstream
// role) on 127.0.0.1 only, generates the load in-process, prints a table
// and stops by itself. Run it from the repository:
//
//	go run ./cmd/mcpbench            # the full run, several minutes
//	go run ./cmd/mcpbench -quick     # a smoke run, under a minute
//
// Without -binary it builds ./cmd/caddy-stata into a temporary folder first.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// config is what the flags set.
type config struct {
	binary  string
	quick   bool
	held    []int
	holdFor time.Duration
	round   time.Duration
	rounds  int
	largeMB int
	only    map[string]bool
	profile string
	conc    int
	files   fileLimit
	// storeCalls is how many calls the store section holds.
	storeCalls int
}

// sections are the parts of the bench, in the order they run.
var sections = []string{"passthrough", "holding", "ttfb", "large", "store"}

func main() {
	os.Exit(run())
}

// run runs the bench and returns the exit status: 1 when a target was
// missed.
func run() int {
	role := flag.String("role", "", "internal: `upstream` runs this program as the bench's upstream")
	binary := flag.String("binary", "", "the caddy-stata binary to measure; default: build ./cmd/caddy-stata into a temporary folder")
	quick := flag.Bool("quick", false, "a short smoke run: small counts, short rounds")
	held := flag.String("held", "", "comma-separated counts of concurrent held calls; default 1000,10000 (quick: 100)")
	holdFor := flag.Duration("hold", 0, "how long each count of calls is held at once; default 1m (quick: 10s)")
	round := flag.Duration("round", 0, "length of one pass-through round; default 2s (quick: 1s)")
	rounds := flag.Int("rounds", 0, "pass-through pairs of rounds (one per configuration) per message; default 10 (quick: 2)")
	largeMB := flag.Int("large-mb", 0, "size of the large result in MB; default 50 (quick: 10)")
	only := flag.String("only", strings.Join(sections, ","), "comma-separated sections to run: "+strings.Join(sections, ", "))
	storeCalls := flag.Int("store-calls", 1000, "held calls of the store section")
	profile := flag.String("profile", "", "a folder to save caddy-stata's heap and CPU profiles in, taken while calls are held")
	flag.Parse()

	if *role == "upstream" {
		if err := runUpstream(); err != nil {
			fmt.Fprintln(os.Stderr, "upstream:", err)
			return 1
		}
		return 0
	}

	cfg := config{binary: *binary, quick: *quick, holdFor: *holdFor, round: *round, rounds: *rounds,
		largeMB: *largeMB, profile: *profile, storeCalls: *storeCalls, conc: 2 * runtime.NumCPU(), only: map[string]bool{}}
	heldList := *held
	if cfg.quick {
		heldList = or(heldList, "100")
		cfg.holdFor = or(cfg.holdFor, 10*time.Second)
		cfg.round = or(cfg.round, time.Second)
		cfg.rounds = or(cfg.rounds, 2)
		cfg.largeMB = or(cfg.largeMB, 10)
	} else {
		heldList = or(heldList, "1000,10000")
		cfg.holdFor = or(cfg.holdFor, time.Minute)
		cfg.round = or(cfg.round, 2*time.Second)
		cfg.rounds = or(cfg.rounds, 10)
		cfg.largeMB = or(cfg.largeMB, 50)
	}
	for _, s := range strings.Split(heldList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalf("-held: %q is not a positive count", s)
		}
		cfg.held = append(cfg.held, n)
	}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !contains(sections, s) {
			fatalf("-only: unknown section %q", s)
		}
		cfg.only[s] = true
	}
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			fatalf("%v", err)
		}
	}

	// Each held call is two sockets in the proxy (client and upstream); ask
	// for room for the largest count. Children inherit the limit.
	largest := 0
	for _, n := range cfg.held {
		largest = max(largest, n)
	}
	cfg.files = raiseFileLimit(uint64(max(65536, 2*largest+4096)))

	if cfg.binary == "" {
		bin, cleanup, err := build()
		if err != nil {
			fatalf("building caddy-stata: %v", err)
		}
		defer cleanup()
		cfg.binary = bin
	}
	version, _ := exec.Command(cfg.binary, "version").Output()

	up, err := startUpstream()
	if err != nil {
		fatalf("%v", err)
	}
	defer up.stop()

	start := time.Now()
	logf("mcpbench: %s, %s, %d CPUs, GOMAXPROCS of every process %d; open files: soft %d, hard %d",
		cfg.binary, strings.TrimSpace(string(version)), runtime.NumCPU(), runtime.GOMAXPROCS(0), cfg.files.soft, cfg.files.hard)
	var rows []row
	var notes []string
	if cfg.files.note != "" {
		notes = append(notes, cfg.files.note)
	}
	section := func(name string, fn func() ([]row, []string, error)) {
		if !cfg.only[name] {
			return
		}
		t := time.Now()
		logf("== %s", name)
		l0 := readLoad()
		r, n, err := fn()
		share := foreign(l0, readLoad())
		rows = append(rows, r...)
		rows = append(rows, row{"  (" + name + ")", "other processes' CPU during this section",
			fmt.Sprintf("%.0f%% of the machine", 100*share), "", "", ""})
		notes = append(notes, n...)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", name, err))
			logf("%s failed: %v", name, err)
		}
		logf("== %s done in %s", name, time.Since(t).Round(time.Second))
	}
	section("passthrough", func() ([]row, []string, error) { return passThrough(&cfg, up) })
	section("holding", func() ([]row, []string, error) { return holdingAll(&cfg, up) })
	section("ttfb", func() ([]row, []string, error) { return timeToFirstByte(&cfg, up) })
	section("large", func() ([]row, []string, error) { return largeResult(&cfg, up) })
	section("store", func() ([]row, []string, error) { return storeCompare(&cfg, up) })

	if self, err := sampleProc(os.Getpid()); err == nil {
		notes = append(notes, fmt.Sprintf("the bench itself peaked at %s resident", mib(self.hwm)))
	}
	fmt.Printf("\nmcpbench results (%s; %s; %d CPUs; %s in all)\n\n", strings.TrimSpace(string(version)),
		runtime.Version(), runtime.NumCPU(), time.Since(start).Round(time.Second))
	printTable(os.Stdout, rows)
	if len(notes) > 0 {
		fmt.Println("\nnotes:")
		for _, n := range notes {
			fmt.Println("  - " + n)
		}
	}
	for _, r := range rows {
		if r.verdict == "MISS" {
			return 1
		}
	}
	return 0
}

// build compiles ./cmd/caddy-stata of the module the bench runs in.
func build() (string, func(), error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", nil, err
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	dir, err := os.MkdirTemp("", "mcpbench-bin-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "caddy-stata")
	logf("building %s/cmd/caddy-stata", root)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caddy-stata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("%w\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// logf prints a progress line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// fatalf prints an error and exits.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mcpbench: "+format+"\n", args...)
	os.Exit(2)
}

// or returns v, or def when v is the zero value.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
