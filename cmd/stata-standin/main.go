// Command stata-standin is a stand-in for Stata, for tests and for the
// caddy-stata demo on machines without Stata. It is not Stata and does not try
// to be: it implements a small, honest subset of the language and writes its
// output the way Stata does, so that the code that drives Stata (the
// stata_runner module) can be exercised end to end.
//
// It runs in one of two modes, as Unix Stata does.
//
// Batch mode (batch.go) runs one do-file and writes its log:
//
//	stata-standin -b do <file.do> [args]
//	stata-standin -b <file.do>
//
// The flags -b and -e (batch mode) and -q (no banner) are accepted; so is the
// file name without the .do extension. Like Stata, it writes the log to
// <basename>.log in the current working directory (not next to the do-file),
// overwriting any earlier log, and it exits with status 0 even when the do-file
// stops with an error: in batch mode the only sign of an error is the r(<n>);
// line in the log. Usage errors (bad flags, no do-file) go to stderr with exit
// status 1.
//
// Console mode (console.go) is `stata-standin -q` with no file: it reads
// commands from standard input, one line at a time, and writes what Stata's
// console writes to standard output: each command echoed as ". <command>", its
// output, and a blank line. State (the dataset in memory, scalars, graphs,
// stored results, the current directory) lives for the whole process. SIGINT
// is Stata's Break: the running command stops with --Break-- and r(1);. End of
// input ends the process with status 0. Without -q, the banner is printed
// first. (In batch mode SIGINT simply ends the process, as it always did.)
//
// The log has the shape of a Stata text log: a banner (unless -q), the do
// command echoed as ". do ...", each line of the do-file echoed after ". " (and
// continuation lines after "> "), each command's output, a blank line after
// every executed command, and "end of do-file" at the end. When a command
// fails, its error message and "r(<n>);" follow its echo, then a blank line,
// "end of do-file" and "r(<n>);" again, and nothing after it runs. A missing
// do-file gives "file <name> not found" and r(601);. Each command's echo and
// output are written before the next command starts (without buffering), so a
// reader following the output sees lines as they happen.
//
// The language subset is the same in both modes (interp.go has the list of
// commands; expr.go the expressions; dataset.go the data in memory; graph.go
// the graphs; break.go the Break key). Any other command is "unrecognized
// command: <word>" with r(199). Not implemented, among much else: blocks in
// braces (quietly { ... }), loops (foreach, forvalues, while), the if command,
// programs, string variables, estimation commands such as regress, #delimit. The wording of messages follows Stata's
// manuals ([U] 8 and [P] error); recent Stata releases word a few of them
// differently (for example "command <word> is unrecognized").
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// invocation is a parsed command line.
type invocation struct {
	quiet    bool     // -q: no banner
	console  bool     // no -b and no file: read commands from stdin
	doEcho   string   // the do command as echoed in the log, without ". "
	file     string   // the do-file as given (with .do added if it had no extension)
	args     []string // arguments after the do-file (the do-file's `1', `2', ...)
	viaDoArg bool     // invoked as "do <file>" rather than "<file>"
}

// usage is printed to stderr after a usage error.
const usage = "usage: stata-standin [-b|-e] [-q] do <file.do> [args]\n       stata-standin [-q]    (console mode: commands from stdin)\n"

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// realMain runs the stand-in and returns the process exit status.
func realMain(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv, err := parseArgs(argv)
	if err != nil {
		fmt.Fprintf(stderr, "stata-standin: %v\n%s", err, usage)
		return 1
	}
	if inv.console {
		return runConsole(inv, stdin, stdout, stderr)
	}
	return runBatch(inv, stderr)
}

// parseArgs parses the command line the way Unix Stata is called: batch mode
// with -b or -e and a do-file, console mode with neither.
func parseArgs(argv []string) (invocation, error) {
	var inv invocation
	batch := false
	i := 0
	for ; i < len(argv) && strings.HasPrefix(argv[i], "-"); i++ {
		switch argv[i] {
		case "-b", "-e":
			batch = true
		case "-q":
			inv.quiet = true
		default:
			return inv, fmt.Errorf("unsupported flag %q", argv[i])
		}
	}
	rest := argv[i:]
	if !batch {
		if len(rest) == 0 {
			inv.console = true
			return inv, nil
		}
		return inv, errors.New("a do-file needs batch mode (-b or -e); without a file, commands are read from stdin")
	}
	switch {
	case len(rest) >= 2 && rest[0] == "do":
		inv.viaDoArg = true
		inv.file = rest[1]
		inv.args = rest[2:]
		inv.doEcho = "do " + strings.Join(rest[1:], " ")
	case len(rest) == 1 && strings.HasSuffix(rest[0], ".do"):
		inv.file = rest[0]
		inv.doEcho = `do "` + rest[0] + `"`
	default:
		return inv, errors.New("expected do <file.do>")
	}
	if filepath.Ext(inv.file) == "" {
		inv.file += ".do"
	}
	return inv, nil
}
