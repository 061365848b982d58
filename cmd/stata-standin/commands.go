package main

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// display prints strings and the values of expressions, concatenated without
// spaces, as Stata's display does. Between them it accepts the directives
// _n/_newline[(#)], _col(#), _skip(#), _dup(#), _continue, a %fmt for the
// next value, and "as <style>" (the styles are accepted and ignored: the
// output has no colours).
func (s *session) display(args string) *stataError {
	var (
		b     strings.Builder
		col   int // the current column: bytes since the last newline
		fmtS  string
		dup   = 1
		final = "\n"
	)
	write := func(str string) {
		for i := 0; i < dup; i++ {
			b.WriteString(str)
		}
		dup = 1
		if i := strings.LastIndexByte(b.String(), '\n'); i >= 0 {
			col = b.Len() - i - 1
		} else {
			col = b.Len()
		}
	}
	rest := args
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		if rest[0] == '%' {
			f, r := cutSpace(rest)
			if !validFormat(f) {
				return errorf(120, "invalid %%format")
			}
			fmtS, rest = f, r
			continue
		}
		if name, arg, r, ok := directive(rest); ok {
			n := 1
			if arg != "" {
				v, e := s.evalNumber(arg)
				if e != nil {
					return e
				}
				n = int(v)
			}
			switch name {
			case "_n", "_newline":
				write(strings.Repeat("\n", max(n, 0)))
			case "_col", "_column":
				if n-1 > col {
					write(strings.Repeat(" ", n-1-col))
				}
			case "_s", "_skip":
				write(strings.Repeat(" ", max(n, 0)))
			case "_dup":
				dup = max(n, 0)
			case "_c", "_continue":
				final = ""
			}
			rest = r
			continue
		}
		if w, r := cutSpace(rest); w == "as" || w == "in" {
			style, r := cutSpace(strings.TrimLeft(r, " \t"))
			switch style {
			case "text", "txt", "result", "res", "error", "err", "input", "inp", "smcl":
			default:
				return errSyntax()
			}
			rest = r
			continue
		}
		ex, r, e := parseExpr(rest)
		if e != nil {
			return e
		}
		v, e := ex(s.evalCtx(0))
		if e != nil {
			return e
		}
		switch {
		case v.isStr:
			write(v.s)
		case fmtS != "":
			write(formatWith(fmtS, v.n))
		default:
			write(formatNumber(v.n))
		}
		fmtS = ""
		rest = r
	}
	s.print(b.String() + final)
	return nil
}

// directive recognises a display directive at the start of s: its name, the
// text of its (argument) if any, and the rest of s.
func directive(s string) (name, arg, rest string, ok bool) {
	i := 0
	for i < len(s) && isNameByte(s[i], i > 0) {
		i++
	}
	switch s[:i] {
	case "_n", "_newline", "_col", "_column", "_s", "_skip", "_dup", "_c", "_continue":
	default:
		return "", "", "", false
	}
	name, rest = s[:i], s[i:]
	if strings.HasPrefix(rest, "(") {
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return "", "", "", false
		}
		arg, rest = rest[1:end], rest[end+1:]
	}
	return name, arg, rest, true
}

// sleep waits the given number of milliseconds; Break interrupts it.
func (s *session) sleep(args string) *stataError {
	ms, err := strconv.ParseInt(args, 10, 64)
	if err != nil || ms < 0 {
		return errSyntax()
	}
	return s.wait(time.Duration(ms) * time.Millisecond)
}

// cmdError is error <exp>: it fails with that return code, printing Stata's
// standard message for it if there is one; error 0 does nothing.
func cmdError(args string) *stataError {
	n, err := strconv.Atoi(args)
	if err != nil || n < 0 {
		return errSyntax()
	}
	if n == 0 {
		return nil
	}
	return &stataError{rc: n, msg: message(n)}
}

// errorCmd is the error command; it takes an expression, such as _rc.
func (s *session) errorCmd(args string) *stataError {
	if _, err := strconv.Atoi(args); err == nil || args == "" {
		return cmdError(args)
	}
	v, e := s.evalNumber(args)
	if e != nil {
		return e
	}
	if v != float64(int(v)) || v < 0 {
		return errSyntax()
	}
	return cmdError(strconv.Itoa(int(v)))
}

// exitCmd is exit [n] [, clear]. In a do-file it ends the do-file, with
// return code n if given; at the console it ends Stata, which refuses when the
// data in memory changed since they were last saved, unless clear is given.
func (s *session) exitCmd(args string) *stataError {
	main, opts := splitOptions(args)
	rc := 0
	if main = strings.TrimSpace(main); main != "" {
		n, err := strconv.Atoi(main)
		if err != nil || n < 0 {
			return errSyntax()
		}
		rc = n
	}
	if s.depth == 0 && s.data.changed && !hasOption(opts, "clear") {
		return errorf(4, "no; dataset in memory has changed since last saved")
	}
	return &stataError{rc: rc, exit: true}
}

// changeDir is the cd command: with a directory, it makes it the current
// directory and shows it, as Stata does; without one, it shows the current
// directory.
func (s *session) changeDir(args string) *stataError {
	dir, rest, ok := fileArg(args)
	if !ok || strings.TrimSpace(rest) != "" {
		return errSyntax()
	}
	if dir != "" {
		if err := os.Chdir(dir); err != nil {
			return errorf(170, "unable to change to %s", dir)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return errorf(170, "unable to read the current directory")
	}
	s.print(wd + "\n")
	return nil
}

// doFile runs `do <file> [args]` (or, with quiet, `run`, which shows
// nothing): the file (relative to the current directory, .do added when it
// has no extension) runs as a nested do-file whose output goes where this
// command's goes, as in Stata. A file that cannot be read is "file <name> not
// found" with r(601). When the nested do-file stops with an error it has
// reported it already; doFile returns its return code with no message.
func (s *session) doFile(args string, quiet bool) *stataError {
	src, rest, e := s.readDoFile(args)
	if e != nil {
		return e
	}
	var dargs []string
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		a, more, ok := fileArg(rest)
		if !ok {
			return errSyntax()
		}
		dargs, rest = append(dargs, a), more
	}
	if quiet {
		old := s.w
		s.w = io.Discard
		defer func() { s.w = old }()
	}
	s.print("\n")
	return s.runSource(string(src), dargs)
}

// includeFile runs `include <file>`: the file's commands run, echoed, as if
// they were typed where the include stands, so the local macros they define
// stay defined after it (Stata's include shares its caller's locals, where do
// gives the file its own). Errors stop the file as they stop a do-file.
func (s *session) includeFile(args string) *stataError {
	src, rest, e := s.readDoFile(args)
	if e != nil {
		return e
	}
	if strings.TrimSpace(rest) != "" {
		return errSyntax()
	}
	s.print("\n")
	return s.runStatements(string(src))
}

// readDoFile reads the do-file that args of do, run or include name first
// (relative to the current directory, .do added when it has no extension),
// and returns its text and the rest of args. A file that cannot be read is
// "file <name> not found" with r(601).
func (s *session) readDoFile(args string) (src []byte, rest string, e *stataError) {
	file, rest, ok := fileArg(args)
	if !ok || file == "" {
		return nil, "", errSyntax()
	}
	if filepath.Ext(file) == "" {
		file += ".do"
	}
	if s.depth >= maxDepth {
		return nil, "", errorf(1000, "stata-standin: do-files nested too deeply")
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, "", errorf(601, "file %s not found", file)
	}
	return src, rest, nil
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
	if i := strings.IndexByte(name, ','); i >= 0 {
		name, rest = name[:i], name[i:]+" "+rest
	}
	return name, rest, true
}

// local defines a local macro of the running do-file (or of the console),
// which is gone when that do-file ends, as in Stata:
// `local name text`, `local name "text"`, `local name = exp`, `local ++name`
// and `local --name`. Extended macro functions (local name : ...) are not
// implemented.
func (s *session) local(args string) *stataError {
	return s.defineMacro(s.frames[len(s.frames)-1], args)
}

// global defines a global macro, which every do-file sees and which lasts
// until Stata exits: the same forms as local.
func (s *session) global(args string) *stataError {
	return s.defineMacro(s.globals, args)
}

// defineMacro is local and global: it defines a macro in frame.
func (s *session) defineMacro(frame map[string]string, args string) *stataError {
	for _, op := range []string{"++", "--"} {
		if name, ok := strings.CutPrefix(args, op); ok {
			name = strings.TrimSpace(name)
			if !isName(name) {
				return errSyntax()
			}
			n, _ := strconv.ParseFloat(frame[name], 64)
			if op == "++" {
				n++
			} else {
				n--
			}
			frame[name] = formatMacroNumber(n)
			return nil
		}
	}
	name, rest := commandWord(args)
	if !isName(name) {
		return errSyntax()
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.HasPrefix(rest, "="):
		v, e := s.evalExpr(strings.TrimPrefix(rest, "="))
		if e != nil {
			return e
		}
		if v.isStr {
			frame[name] = v.s
		} else {
			frame[name] = formatMacroNumber(v.n)
		}
	case strings.HasPrefix(rest, ":"):
		return errorf(198, "stata-standin: extended macro functions are not implemented")
	default:
		frame[name] = unquote(rest)
	}
	return nil
}

// unquote removes one pair of quotes ("..." or `"..."') enclosing all of s,
// as local does.
func unquote(s string) string {
	switch {
	case len(s) >= 4 && strings.HasPrefix(s, "`\"") && strings.HasSuffix(s, "\"'"):
		return s[2 : len(s)-2]
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.Contains(s[1:len(s)-1], `"`):
		return s[1 : len(s)-1]
	}
	return s
}

// scalar is `scalar [define] name = exp`, `scalar list [names]` and
// `scalar drop names|_all`.
func (s *session) scalar(args string) *stataError {
	word, rest := commandWord(args)
	switch word {
	case "define", "de", "def", "defi", "defin":
		word, rest = commandWord(strings.TrimSpace(rest))
	case "list", "dir", "l", "li", "lis":
		return s.scalarList(strings.Fields(rest))
	case "drop":
		names := strings.Fields(rest)
		if len(names) == 1 && names[0] == "_all" {
			clear(s.scalars)
			return nil
		}
		for _, n := range names {
			if _, ok := s.scalars[n]; !ok {
				return errorf(111, "scalar %s not found", n)
			}
			delete(s.scalars, n)
		}
		return nil
	}
	rest = strings.TrimSpace(rest)
	if !isName(word) || !strings.HasPrefix(rest, "=") {
		return errSyntax()
	}
	v, e := s.evalExpr(strings.TrimPrefix(rest, "="))
	if e != nil {
		return e
	}
	s.scalars[word] = v
	return nil
}

// scalarList prints the named scalars, or all of them, one per line.
func (s *session) scalarList(names []string) *stataError {
	if len(names) == 0 || (len(names) == 1 && names[0] == "_all") {
		names = names[:0]
		for n := range s.scalars {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		v, ok := s.scalars[n]
		if !ok {
			return errorf(111, "scalar %s not found", n)
		}
		if v.isStr {
			s.printf("%10s = %s\n", n, v.s)
		} else {
			s.printf("%10s = %10s\n", n, formatNumber(v.n))
		}
	}
	return nil
}

// assert checks that an expression is true in every observation (Stata's
// assert; with no observations it passes, as in Stata).
func (s *session) assert(args string) *stataError {
	q, e := s.parseQualified(args)
	if e != nil {
		return e
	}
	ex, e := s.parseFullExpr(q.main)
	if e != nil {
		return e
	}
	bad, n := 0, 0
	for i := 0; i < s.data.n; i++ {
		ok, e := q.selects(s, i)
		if e != nil {
			return e
		}
		if !ok {
			continue
		}
		n++
		v, e := ex(s.evalCtx(i))
		if e != nil {
			return e
		}
		if v.isStr {
			return errorf(109, "type mismatch")
		}
		if v.n == 0 {
			bad++
		}
	}
	if bad > 0 {
		return errorf(9, "%s in %s\nassertion is false",
			plural(bad, "contradiction", "contradictions"), plural(n, "observation", "observations"))
	}
	return nil
}

// plural is "<n> <one>" or "<n> <many>", with n in Stata's comma format.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}

// knownSettings are the settings `set` accepts and ignores (besides obs and
// seed, which it implements): they change nothing that the stand-in shows.
var knownSettings = map[string]bool{
	"more": true, "linesize": true, "pagesize": true, "type": true, "varabbrev": true,
	"rmsg": true, "graphics": true, "scheme": true, "trace": true, "level": true,
	"dp": true, "maxvar": true, "matsize": true, "output": true, "showbaselevels": true,
}

// set is `set obs N`, `set seed N` and the settings in knownSettings.
func (s *session) set(args string) *stataError {
	name, rest := commandWord(args)
	rest = strings.TrimSpace(rest)
	switch {
	case name == "obs":
		return s.setObs(rest)
	case name == "seed":
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return errSyntax()
		}
		s.rng.Seed(n)
		return nil
	case knownSettings[name]:
		return nil
	}
	return errorf(199, "unrecognized command:  set %s", name)
}

// clear is `clear` (the data in memory) and `clear all` (also scalars,
// graphs and stored results).
func (s *session) clear(args string) *stataError {
	switch strings.TrimSpace(args) {
	case "":
		s.data = dataset{}
	case "all", "*":
		s.data = dataset{}
		clear(s.scalars)
		clear(s.rres)
		s.graphs = graphs{}
	default:
		return errSyntax()
	}
	return nil
}
