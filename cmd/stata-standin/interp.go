package main

import (
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// A stataError is how a command fails: msg (possibly empty, possibly several
// lines, without a final newline) is printed where the error is reported,
// followed by r(<rc>);. With exit set it is the exit command instead: it ends
// the do-file (or, at the console, Stata) with return code rc and prints
// nothing.
type stataError struct {
	rc   int
	msg  string
	exit bool
}

// errorf returns the stataError with return code rc and a formatted message.
func errorf(rc int, format string, args ...any) *stataError {
	return &stataError{rc: rc, msg: fmt.Sprintf(format, args...)}
}

// errSyntax is Stata's generic "invalid syntax".
func errSyntax() *stataError { return &stataError{rc: 198, msg: "invalid syntax"} }

// maxDepth is how deeply do-files may call do-files; a do-file that runs
// itself stops here instead of forever.
const maxDepth = 33

// An output writes to the log or to stdout and keeps the first write error,
// so that commands can print without checking each write. Every write reaches
// the underlying writer at once: a reader following the output sees each line
// as soon as it is printed.
type output struct {
	w   io.Writer
	err error
}

// Write writes p unless an earlier write failed.
func (o *output) Write(p []byte) (int, error) {
	if o.err == nil {
		_, o.err = o.w.Write(p)
	}
	return len(p), nil
}

// A session is the interpreter and everything Stata keeps in memory: the
// dataset, scalars, graphs, stored results, local macros of each running
// do-file, and _rc. One session lives as long as the process; batch mode
// runs one do-file in it, console mode every command read.
type session struct {
	out     *output             // the log or stdout
	w       io.Writer           // where output goes now: out, or io.Discard under quietly or capture
	brk     *breaker            // nil in batch mode: SIGINT then ends the process, as before
	sleepFn func(time.Duration) // tests: stands in for sleep's wait; nil waits for real
	nobreak int                 // > 0 while a nobreak command runs

	depth   int                 // do-files running
	frames  []map[string]string // local macros: [0] the console's, then one per running do-file
	globals map[string]string   // global macros
	rc      int                 // _rc, set by capture
	rres    map[string]value    // r(): results stored by the last r-class command
	scalars map[string]value
	data    dataset
	graphs  graphs
	rng     *rand.Rand
}

// newSession returns a session writing to w, taking Break from brk (nil for
// none), with nothing in memory.
func newSession(w io.Writer, brk *breaker) *session {
	o := &output{w: w}
	return &session{
		out:     o,
		w:       o,
		brk:     brk,
		frames:  []map[string]string{{}},
		globals: map[string]string{},
		rres:    map[string]value{},
		scalars: map[string]value{},
		rng:     rand.New(rand.NewSource(123456789)),
	}
}

// print writes s to the current output.
func (s *session) print(str string) { io.WriteString(s.w, str) }

// printf writes formatted text to the current output.
func (s *session) printf(format string, args ...any) { fmt.Fprintf(s.w, format, args...) }

// report prints an error where it is reported: its message and r(<n>);.
func (s *session) report(e *stataError) {
	if e.msg != "" {
		s.print(e.msg + "\n")
	}
	s.printf("r(%d);\n", e.rc)
}

// runSource runs the statements of a do-file, echoing each one (". " before
// its first line, "> " before continuation lines) and then its output and a
// blank line. It returns nil when the do-file ran to its end or to exit, and
// the error it stopped with otherwise (already reported: the error returned
// has no message, only the return code, which the caller reports as the
// do command's). args are the do-file's arguments: the locals `0' (all),
// `1', `2', ...
func (s *session) runSource(src string, args []string) *stataError {
	locals := map[string]string{"0": strings.Join(args, " ")}
	for i, a := range args {
		locals[strconv.Itoa(i+1)] = a
	}
	s.frames = append(s.frames, locals)
	defer func() { s.frames = s.frames[:len(s.frames)-1] }()
	return s.runStatements(src)
}

// runStatements runs the statements of src as runSource describes, in the
// current local scope: runSource gives a do-file a scope of its own, while
// include runs a file in its caller's, so that the locals the file defines
// outlive it (Stata's [P] include).
func (s *session) runStatements(src string) *stataError {
	s.depth++
	defer func() { s.depth-- }()
	for _, st := range parse(src) {
		// Stata checks for Break between the commands of a do-file.
		if e := s.checkBreak(); e != nil {
			return s.stopDoFile(e)
		}
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
		s.print(echo.String())
		if st.cmd == "" {
			continue
		}
		e := s.execLine(st.cmd)
		switch {
		case e == nil:
			s.print("\n")
		case e.exit:
			s.print("\nend of do-file\n")
			if e.rc == 0 {
				return nil
			}
			return &stataError{rc: e.rc}
		default:
			return s.stopDoFile(e)
		}
	}
	s.print(". \nend of do-file\n")
	return nil
}

// stopDoFile reports e, which stopped the do-file, and ends the do-file's
// output.
func (s *session) stopDoFile(e *stataError) *stataError {
	s.report(e)
	s.print("\nend of do-file\n")
	return &stataError{rc: e.rc}
}

// execLine runs one command line: it expands the macros in it and runs the
// result; a line that expands to nothing does nothing.
func (s *session) execLine(line string) *stataError {
	cmd, e := s.expandMacros(line)
	if e != nil {
		return e
	}
	if cmd = strings.TrimSpace(cmd); cmd == "" {
		return nil
	}
	return s.command(cmd)
}

// commandWord splits a command into its name (the leading letters, digits and
// underscores, or up to the first blank when it starts otherwise) and the
// rest.
func commandWord(cmd string) (word, rest string) {
	i := 0
	for i < len(cmd) && isNameByte(cmd[i], i > 0) {
		i++
	}
	if i == 0 {
		return cutSpace(cmd)
	}
	return cmd[:i], cmd[i:]
}

// command runs one command whose macros are expanded. The commands and their
// shortest abbreviations follow Stata's.
func (s *session) command(cmd string) *stataError {
	word, rest := commandWord(cmd)
	rest = strings.TrimSpace(rest)
	switch {
	// Prefixes.
	case isAbbrev(word, "capture", 3):
		return s.capture(trimColon(rest))
	case isAbbrev(word, "quietly", 3):
		return s.withOutput(io.Discard, trimColon(rest))
	case isAbbrev(word, "noisily", 1):
		return s.withOutput(s.out, trimColon(rest))
	case word == "nobreak":
		return s.noBreak(trimColon(rest))

	// Programming and housekeeping (commands.go).
	case isAbbrev(word, "display", 2):
		return s.display(rest)
	case word == "sleep":
		return s.sleep(rest)
	case word == "error":
		return s.errorCmd(rest)
	case word == "exit":
		return s.exitCmd(rest)
	case word == "cd":
		return s.changeDir(rest)
	case word == "pwd":
		if rest != "" {
			return errSyntax()
		}
		return s.changeDir("")
	case word == "do":
		return s.doFile(rest, false)
	case word == "run":
		return s.doFile(rest, true)
	case word == "include":
		return s.includeFile(rest)
	case isAbbrev(word, "local", 3):
		return s.local(rest)
	case isAbbrev(word, "global", 2):
		return s.global(rest)
	case isAbbrev(word, "scalar", 3):
		return s.scalar(rest)
	case word == "assert":
		return s.assert(rest)
	case word == "set":
		return s.set(rest)
	case word == "clear":
		return s.clear(rest)

	// Data (dataset.go).
	case isAbbrev(word, "generate", 1):
		return s.generate(rest)
	case word == "replace":
		return s.replace(rest)
	case word == "drop":
		return s.dropKeep(rest, true)
	case word == "keep":
		return s.dropKeep(rest, false)
	case isAbbrev(word, "count", 3):
		return s.count(rest)
	case isAbbrev(word, "describe", 1):
		return s.describe(rest)
	case isAbbrev(word, "summarize", 2):
		return s.summarize(rest)
	case isAbbrev(word, "list", 1):
		return s.list(rest)
	case word == "sysuse":
		return s.sysuse(rest)
	case word == "save":
		return s.save(rest)
	case word == "use":
		return s.use(rest)

	// Graphs (graph.go).
	case isAbbrev(word, "scatter", 2):
		return s.twowayPlot("scatter", rest)
	case word == "line":
		return s.twowayPlot("line", rest)
	case isAbbrev(word, "twoway", 2):
		return s.twoway(rest)
	case isAbbrev(word, "histogram", 4):
		return s.histogram(rest)
	case isAbbrev(word, "graph", 2):
		return s.graph(rest)
	}
	return errorf(199, "unrecognized command: %s", word)
}

// trimColon removes the colon Stata allows after a prefix ("quietly: ...").
func trimColon(s string) string {
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), ":"))
}

// capture runs cmd with its output and error message hidden and its return
// code stored in _rc; capture itself never fails. With noisily after it,
// output and message are shown (noisily prints the message itself), but the
// r(<n>); line is not. A Break inside is captured too (_rc 1); exit passes
// through.
func (s *session) capture(cmd string) *stataError {
	if cmd == "" {
		return errSyntax()
	}
	old := s.w
	s.w = io.Discard
	e := s.command(cmd)
	s.w = old
	if e != nil && e.exit {
		return e
	}
	s.rc = 0
	if e != nil {
		s.rc = e.rc
	}
	return nil
}

// withOutput runs cmd with its output going to w: io.Discard for quietly,
// the real output for noisily. Under noisily an error's message is printed at
// once, so that it shows even when the error is then captured.
// Simplification: under quietly an error's message still shows where the
// error is reported, with its r(<n>);.
func (s *session) withOutput(w io.Writer, cmd string) *stataError {
	if cmd == "" {
		return errSyntax()
	}
	old := s.w
	s.w = w
	e := s.command(cmd)
	if e != nil && w == io.Writer(s.out) && e.msg != "" {
		s.print(e.msg + "\n")
		e = &stataError{rc: e.rc, exit: e.exit}
	}
	s.w = old
	return e
}

// noBreak runs cmd with Break held off. A Break pressed meanwhile is taken
// when cmd has finished, as Stata defers it: the command's own error wins,
// otherwise the result is --Break-- and r(1);.
func (s *session) noBreak(cmd string) *stataError {
	if cmd == "" {
		return errSyntax()
	}
	s.nobreak++
	e := s.command(cmd)
	s.nobreak--
	if e == nil {
		e = s.checkBreak()
	}
	return e
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

// isNameByte reports whether c may appear in a Stata name (not first: a
// digit may not start one).
func isNameByte(c byte, notFirst bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (notFirst && c >= '0' && c <= '9')
}

// isName reports whether tok is a Stata name (of a variable, scalar, macro).
func isName(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if !isNameByte(tok[i], i > 0) {
			return false
		}
	}
	return tok != "" && len(tok) <= 32
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

// message is the message of error <n>: the standard message, if there is one.
func message(rc int) string {
	return standardMessages[rc]
}
