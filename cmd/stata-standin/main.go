// Command stata-standin is a stand-in for Stata's Unix batch mode, for tests and
// for the caddy-stata demo on machines without Stata. It is not Stata and does
// not try to be: it implements a small, honest subset of the language and writes
// its log the way Stata does, so that the code that drives Stata (the
// stata_runner module) can be exercised end to end.
//
// It is invoked like Unix Stata in batch mode:
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
// The log has the shape of a Stata text log: a banner (unless -q), the do
// command echoed as ". do ...", each line of the do-file echoed after ". " (and
// continuation lines after "> "), each command's output, a blank line after
// every executed command, and "end of do-file" at the end. When a command
// fails, its error message and "r(<n>);" follow its echo, then a blank line,
// "end of do-file" and "r(<n>);" again, and nothing after it runs. A missing
// do-file gives "file <name> not found" and r(601);. Each command's echo and
// output are written to the log before the next command starts (the file is
// written without buffering), so a reader following the log sees lines as they
// happen.
//
// The implemented subset:
//
//   - display (abbreviations di, dis, disp, displ, displa): string literals
//     ("..." and compound `"..."'), numbers, _n/_newline, and the styles
//     as text/result/error/input, which are accepted and ignored. Pieces are
//     concatenated without spaces, as Stata does. Numbers are printed the way
//     %9.0g prints simple values (0.5 as .5). A bare name is an error
//     ("<name> not found", r(111)); anything else, such as arithmetic, is
//     refused with r(198).
//   - sleep <ms>: waits that many milliseconds.
//   - error <n>: stops with return code n, printing Stata's standard message
//     for a few common codes (9, 100, 109, 110, 111, 198, 199, 459, 601, 603,
//     2000); error 0 does nothing.
//   - exit: ends the do-file without error.
//   - cd ["<dir>"]: changes the current directory and shows it; a directory
//     that cannot be entered is "unable to change to <dir>" with r(170).
//   - do "<file>": runs another do-file, nested, its lines echoed into the
//     same log after a blank line, ending with its own "end of do-file"; a
//     relative name is relative to the current directory, and a file that
//     cannot be read is "file <name> not found" with r(601). When the nested
//     do-file stops with an error, so does the one that called it: its
//     "end of do-file" and "r(<n>);" follow the nested one's. Names may be
//     quoted with "..." or `"..."'.
//   - comments: lines starting with * or //, " //" to the end of a line,
//     /* ... */ (also across lines) and /// line continuation.
//   - blank lines.
//
// Any other command is "unrecognized command: <word>" with r(199). The wording
// of messages follows Stata's manuals ([U] 8 and [P] error); recent Stata
// releases word a few of them differently (for example "command <word> is
// unrecognized").
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// banner is written at the top of the log unless -q is given. It stands where
// Stata prints its logo, licence and notes, and says plainly what wrote the log.
const banner = `
  stata-standin: a stand-in for Stata batch mode, not Stata
  implements display, sleep, error, exit, cd, do and comments only

Notes:
      1. stata-standin is running in batch mode.

`

// invocation is a parsed command line.
type invocation struct {
	quiet    bool     // -q: no banner
	doEcho   string   // the do command as echoed in the log, without ". "
	file     string   // the do-file as given (with .do added if it had no extension)
	args     []string // arguments after the do-file (accepted, unused)
	viaDoArg bool     // invoked as "do <file>" rather than "<file>"
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stderr))
}

// realMain runs the stand-in and returns the process exit status.
func realMain(argv []string, stderr io.Writer) int {
	inv, err := parseArgs(argv)
	if err != nil {
		fmt.Fprintf(stderr, "stata-standin: %v\nusage: stata-standin [-b|-e] [-q] do <file.do> [args]\n", err)
		return 1
	}
	logName := logFileName(inv.file)
	f, err := os.Create(logName)
	if err != nil {
		fmt.Fprintf(stderr, "stata-standin: creating log: %v\n", err)
		return 1
	}
	defer f.Close()
	if !inv.quiet {
		if _, err := io.WriteString(f, banner); err != nil {
			fmt.Fprintf(stderr, "stata-standin: writing log: %v\n", err)
			return 1
		}
	}
	if err := runDoFile(f, inv); err != nil {
		fmt.Fprintf(stderr, "stata-standin: writing log: %v\n", err)
		return 1
	}
	// Stata's batch mode exits 0 whether or not the do-file failed.
	return 0
}

// parseArgs parses the command line the way Unix Stata's batch mode is called.
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
	if !batch {
		return inv, errors.New("only batch mode (-b or -e) is supported")
	}
	rest := argv[i:]
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

// logFileName is the log Stata writes for a do-file: its base name with the
// extension replaced by .log, in the current directory.
func logFileName(doFile string) string {
	base := filepath.Base(doFile)
	return strings.TrimSuffix(base, filepath.Ext(base)) + ".log"
}

// runDoFile writes the do command's echo, runs the do-file and writes its log.
func runDoFile(w io.Writer, inv invocation) error {
	if _, err := fmt.Fprintf(w, ". %s \n", inv.doEcho); err != nil {
		return err
	}
	src, err := os.ReadFile(inv.file)
	if err != nil {
		_, werr := fmt.Fprintf(w, "file %s not found\nr(601);\n", inv.file)
		return werr
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	return run(w, string(src), time.Sleep)
}

// A statement is one logical command of a do-file: the physical lines it spans
// (for the echo) and the command text left after comments and continuations
// are removed. An empty cmd is a comment or a blank line.
type statement struct {
	lines []string
	cmd   string
}

// parse splits a do-file into statements, removing comments and joining ///
// continuations. An unterminated /* comment runs to the end of the file, as in
// Stata.
func parse(src string) []statement {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	lines := strings.Split(src, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var (
		out     []statement
		cur     statement
		inBlock bool // inside /* ... */
		pending bool // cur continues on the next line
	)
	var cmd strings.Builder
	for _, line := range lines {
		cur.lines = append(cur.lines, line)
		code, block, cont := stripComments(line, inBlock, !pending)
		inBlock = block
		if cmd.Len() > 0 && code != "" {
			cmd.WriteByte(' ')
		}
		cmd.WriteString(code)
		if inBlock || cont {
			pending = true
			continue
		}
		pending = false
		cur.cmd = strings.TrimSpace(cmd.String())
		out = append(out, cur)
		cur = statement{}
		cmd.Reset()
	}
	if len(cur.lines) > 0 {
		cur.cmd = strings.TrimSpace(cmd.String())
		out = append(out, cur)
	}
	return out
}

// stripComments removes the comments from one physical line. inBlock says the
// line starts inside a /* comment; first says it starts a new statement (where
// * and // comment out the whole line). It returns the code left, whether the
// line ends inside a /* comment, and whether it ends with a /// continuation.
// Comment markers inside double-quoted strings are not comments.
func stripComments(line string, inBlock, first bool) (code string, block, cont bool) {
	if first && !inBlock {
		t := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(t, "*") || (strings.HasPrefix(t, "//") && !strings.HasPrefix(t, "///")) {
			return "", false, false
		}
	}
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if inBlock {
			if strings.HasPrefix(line[i:], "*/") {
				inBlock = false
				i++
			}
			continue
		}
		if c == '"' {
			inQuote = !inQuote
		}
		if !inQuote {
			if strings.HasPrefix(line[i:], "/*") {
				inBlock = true
				i++
				continue
			}
			if strings.HasPrefix(line[i:], "//") && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
				if strings.HasPrefix(line[i:], "///") {
					return strings.TrimSpace(b.String()), false, true
				}
				break
			}
		}
		b.WriteByte(c)
	}
	return strings.TrimSpace(b.String()), inBlock, false
}

// errStop is returned by execute for the exit command.
var errStop = errors.New("exit")

// maxDepth is how deeply do-files may call do-files; a do-file that runs
// itself stops here instead of forever.
const maxDepth = 32

// run executes the statements of a do-file, writing each statement's echo and
// output to w before the next one starts. Stata errors end the run normally
// (they are part of the log); the error returned is a write error.
func run(w io.Writer, src string, sleep func(time.Duration)) error {
	_, err := runNested(w, src, sleep, 0)
	return err
}

// runNested is run for a do-file at the given depth of do commands; it
// returns the return code the do-file stopped with (0 if it ran to its end or
// to exit).
func runNested(w io.Writer, src string, sleep func(time.Duration), depth int) (int, error) {
	for _, st := range parse(src) {
		var echo strings.Builder
		for i, l := range st.lines {
			if i == 0 {
				echo.WriteString(". ")
			} else {
				echo.WriteString("> ")
			}
			echo.WriteString(l)
			echo.WriteByte('\n')
		}
		if _, err := io.WriteString(w, echo.String()); err != nil {
			return 0, err
		}
		if st.cmd == "" {
			continue
		}
		var (
			out string
			rc  int
			err error
		)
		if word, rest := cutSpace(st.cmd); word == "do" {
			out, rc, err = doCommand(w, strings.TrimSpace(rest), sleep, depth)
			if err != nil {
				return 0, err
			}
			if rc != 0 && out == "" {
				// The nested do-file wrote its error and its r(n); already.
				_, err := fmt.Fprintf(w, "\nend of do-file\nr(%d);\n", rc)
				return rc, err
			}
		} else {
			out, rc, err = execute(st.cmd, sleep)
		}
		if err == errStop {
			_, err := io.WriteString(w, "\nend of do-file\n")
			return 0, err
		}
		var b strings.Builder
		b.WriteString(out)
		if rc != 0 {
			fmt.Fprintf(&b, "r(%d);\n\nend of do-file\nr(%d);\n", rc, rc)
			_, err := io.WriteString(w, b.String())
			return rc, err
		}
		b.WriteString("\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return 0, err
		}
	}
	_, err := io.WriteString(w, ". \nend of do-file\n")
	return 0, err
}

// doCommand runs `do <file>` inside a do-file: the file (relative to the
// current directory, .do added when it has no extension) runs as a nested
// do-file whose log goes into the same log, as in Stata. A file that cannot be
// read is an error with output and r(601); a nested do-file that stops with
// an error has written its message and r(n); itself, and doCommand returns
// that code with no output.
func doCommand(w io.Writer, args string, sleep func(time.Duration), depth int) (string, int, error) {
	file, _, ok := fileArg(args)
	if !ok || file == "" {
		return message(198), 198, nil
	}
	if filepath.Ext(file) == "" {
		file += ".do"
	}
	if depth+1 > maxDepth {
		return "stata-standin: do-files nested too deeply\n", 1000, nil
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return "file " + file + " not found\n", 601, nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return "", 0, err
	}
	rc, err := runNested(w, string(src), sleep, depth+1)
	return "", rc, err
}

// fileArg takes a file or directory name from the start of args: "quoted",
// `"compound quoted"' or a word; it returns the name, the rest, and false
// when a quote is not closed.
func fileArg(args string) (name, rest string, ok bool) {
	args = strings.TrimLeft(args, " \t")
	switch {
	case strings.HasPrefix(args, "`\""):
		end := strings.Index(args, "\"'")
		if end < 0 {
			return "", "", false
		}
		return args[2:end], args[end+2:], true
	case strings.HasPrefix(args, "\""):
		end := strings.IndexByte(args[1:], '"')
		if end < 0 {
			return "", "", false
		}
		return args[1 : end+1], args[end+2:], true
	}
	name, rest = cutSpace(args)
	return name, rest, true
}

// changeDir is the cd command: with a directory, it makes it the current
// directory and shows it, as Stata does; without one, it shows the current
// directory.
func changeDir(args string) (string, int) {
	dir, rest, ok := fileArg(args)
	if !ok || strings.TrimSpace(rest) != "" {
		return message(198), 198
	}
	if dir != "" {
		if err := os.Chdir(dir); err != nil {
			return "unable to change to " + dir + "\n", 170
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "unable to read the current directory\n", 170
	}
	return wd + "\n", 0
}

// execute runs one command and returns its output (each line ending in a
// newline) and its return code. The error is errStop for exit.
func execute(cmd string, sleep func(time.Duration)) (out string, rc int, err error) {
	word, rest := cutSpace(cmd)
	rest = strings.TrimSpace(rest)
	switch {
	case isAbbrev(word, "display", 2):
		s, rc := display(rest)
		return s, rc, nil
	case word == "sleep":
		ms, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || ms < 0 {
			return message(198), 198, nil
		}
		sleep(time.Duration(ms) * time.Millisecond)
		return "", 0, nil
	case word == "error":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			return message(198), 198, nil
		}
		if n == 0 {
			return "", 0, nil
		}
		return message(n), n, nil
	case word == "cd":
		s, rc := changeDir(rest)
		return s, rc, nil
	case word == "exit":
		if rest != "" {
			return "stata-standin: exit takes no arguments here\n", 198, nil
		}
		return "", 0, errStop
	default:
		return "unrecognized command: " + word + "\n", 199, nil
	}
}

// cutSpace splits s at its first space or tab.
func cutSpace(s string) (before, after string) {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// isAbbrev reports whether word is name or an abbreviation of it at least min
// characters long, as Stata allows for many commands.
func isAbbrev(word, name string, min int) bool {
	return len(word) >= min && strings.HasPrefix(name, word)
}

// standardMessages holds Stata's standard message for a few return codes, as
// error <n> prints them.
var standardMessages = map[int]string{
	9:    "assertion is false",
	100:  "varlist required",
	109:  "type mismatch",
	110:  "already defined",
	111:  "no variables defined",
	198:  "invalid syntax",
	199:  "unrecognized command",
	459:  "something that should be true of your data is not",
	601:  "file not found",
	603:  "file could not be opened",
	2000: "no observations",
}

// message is the output of error <n>: the standard message, if there is one.
func message(rc int) string {
	if m, ok := standardMessages[rc]; ok {
		return m + "\n"
	}
	return ""
}

// display evaluates the arguments of display and returns its output and
// return code.
func display(args string) (string, int) {
	var b strings.Builder
	s := args
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		switch {
		case strings.HasPrefix(s, "`\""):
			end := strings.Index(s, "\"'")
			if end < 0 {
				return "too few quotes\n", 132
			}
			b.WriteString(s[2:end])
			s = s[end+2:]
		case s[0] == '"':
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return "too few quotes\n", 132
			}
			b.WriteString(s[1 : end+1])
			s = s[end+2:]
		default:
			tok, rest := cutSpace(s)
			s = rest
			switch {
			case tok == "_n" || tok == "_newline":
				b.WriteByte('\n')
			case tok == "as":
				style, rest := cutSpace(strings.TrimLeft(s, " \t"))
				switch style {
				case "text", "txt", "result", "res", "error", "err", "input", "inp":
				default:
					return message(198), 198
				}
				s = rest
			case isNumber(tok):
				v, _ := strconv.ParseFloat(tok, 64)
				b.WriteString(formatNumber(v))
			case isName(tok):
				return tok + " not found\n", 111
			default:
				return "stata-standin: display supports only string literals and numbers\n", 198
			}
		}
	}
	return b.String() + "\n", 0
}

// isNumber reports whether tok is a numeric literal.
func isNumber(tok string) bool {
	if tok == "" || strings.ContainsAny(tok, "xXpP_") {
		return false
	}
	v, err := strconv.ParseFloat(tok, 64)
	return err == nil && !math.IsInf(v, 0) && !math.IsNaN(v)
}

// isName reports whether tok looks like a Stata name (a variable or scalar).
func isName(tok string) bool {
	for i, c := range tok {
		switch {
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return tok != ""
}

// formatNumber prints a number the way Stata's %9.0g shows simple values:
// integers in full up to nine digits, otherwise up to eight significant digits,
// and no zero before the decimal point.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'g', 8, 64)
	if strings.ContainsAny(s, "e") {
		return s
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	switch {
	case strings.HasPrefix(s, "0."):
		s = s[1:]
	case strings.HasPrefix(s, "-0."):
		s = "-" + s[2:]
	}
	return s
}
