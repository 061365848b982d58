package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// banner is written at the top of the log unless -q is given. It stands where
// Stata prints its logo, licence and notes, and says plainly what wrote the log.
const banner = `
  stata-standin: a stand-in for Stata batch mode, not Stata
  implements a small subset of the language (see cmd/stata-standin)

Notes:
      1. stata-standin is running in batch mode.

`

// runBatch is batch mode: it runs the do-file of inv and writes its log to
// <basename>.log in the current directory. It returns the exit status, which
// is 0 whether or not the do-file failed, as in Stata.
func runBatch(inv invocation, stderr io.Writer) int {
	f, err := os.Create(logFileName(inv.file))
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
	s := newSession(f, nil)
	s.runBatchFile(inv)
	if err := s.out.err; err != nil {
		fmt.Fprintf(stderr, "stata-standin: writing log: %v\n", err)
		return 1
	}
	// Stata's batch mode exits 0 whether or not the do-file failed.
	return 0
}

// logFileName is the log Stata writes for a do-file: its base name with the
// extension replaced by .log, in the current directory.
func logFileName(doFile string) string {
	base := filepath.Base(doFile)
	return strings.TrimSuffix(base, filepath.Ext(base)) + ".log"
}

// runBatchFile writes the do command's echo, runs the do-file and writes its
// log. The do-file's error, if any, ends the log with r(<n>);.
func (s *session) runBatchFile(inv invocation) {
	s.printf(". %s \n", inv.doEcho)
	src, err := os.ReadFile(inv.file)
	if err != nil {
		s.printf("file %s not found\nr(601);\n", inv.file)
		return
	}
	s.print("\n")
	if e := s.runSource(string(src), inv.args); e != nil {
		s.printf("r(%d);\n", e.rc)
	}
}

// run executes the statements of a do-file as batch mode does, writing each
// statement's echo and output to w before the next one starts, with sleep
// standing in for the waits of the sleep command. Stata errors end the run
// normally (they are part of the log); the error returned is a write error.
func run(w io.Writer, src string, sleep func(time.Duration)) error {
	s := newSession(w, nil)
	s.sleepFn = sleep
	if e := s.runSource(src, nil); e != nil {
		s.printf("r(%d);\n", e.rc)
	}
	return s.out.err
}
