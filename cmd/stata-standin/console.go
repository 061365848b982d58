package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// consoleBanner is printed when console mode starts without -q, where Stata
// prints its logo and licence.
const consoleBanner = `
  stata-standin: a stand-in for Stata's console, not Stata

`

// runConsole is console mode: it reads commands from stdin, one line at a
// time, and runs each in one session, writing to stdout what Stata's console
// writes: ". <command>", the command's output, and a blank line; an error's
// message and r(<n>); come before that blank line, and reading goes on. SIGINT
// is Break. It returns when stdin ends (exit status 0) or on exit.
//
// Simplifications: /// continuations and /* */ comments spanning lines are
// do-file syntax and are not joined at the console (as in Stata's console);
// #delimit is not implemented.
func runConsole(inv invocation, stdin io.Reader, stdout, stderr io.Writer) int {
	brk := newBreaker()
	brk.listenSIGINT()
	s := newSession(stdout, brk)
	if !inv.quiet {
		s.print(consoleBanner)
	}
	if err := s.consoleLoop(stdin, brk); err != nil {
		fmt.Fprintf(stderr, "stata-standin: writing output: %v\n", err)
		return 1
	}
	return 0
}

// consoleLoop reads lines from stdin and runs them until end of input or
// exit; it returns the first error writing the output.
func (s *session) consoleLoop(stdin io.Reader, brk *breaker) error {
	in := bufio.NewReader(stdin)
	for {
		line, err := in.ReadString('\n')
		if line == "" && err != nil {
			return nil // end of input: Stata exits
		}
		line = strings.TrimRight(line, "\r\n")
		// A Break pressed while Stata waited for this line does nothing.
		brk.clear()
		if s.consoleLine(line) {
			return s.out.err
		}
		if s.out.err != nil {
			return s.out.err
		}
	}
}

// consoleLine runs one line typed at the console and reports whether it
// ended Stata (exit).
func (s *session) consoleLine(line string) bool {
	s.print(". " + line + "\n")
	cmd, _, _ := stripComments(line, false, true)
	if cmd == "" {
		return false
	}
	e := s.execLine(cmd)
	switch {
	case e == nil:
	case e.exit:
		return true
	default:
		s.report(e)
	}
	s.print("\n")
	return false
}
