package runner

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Facts about Stata's batch mode this file relies on (Unix Stata, run as
// `stata -b do <file>`):
//
//   - Stata writes a text log named after the do-file, <basename>.log, in the
//     current working directory, not next to the do-file, replacing any
//     earlier one.
//   - Stata joins its arguments into one command line, so a do-file path with
//     a space in it does not survive ("stata -b do 'a b.do'" runs do a with
//     the argument b.do and logs to a.log).
//   - Stata exits with status 0 even when the do-file failed. The only sign of
//     failure is the log: the failing command's message and "r(<n>);", then
//     "end of do-file" and "r(<n>);" again as the log's last line. A do-file
//     that Stata cannot find gives "file <name> not found" and r(601); as the
//     last line. A do-file that ran to its end ends with "end of do-file".

// safePathRE matches a path Stata's batch mode command line passes through
// unchanged.
var safePathRE = regexp.MustCompile(`^[A-Za-z0-9/._+@-]+$`)

// isSafeDir reports whether dir may hold the do-files given to Stata.
func isSafeDir(dir string) bool {
	return safePathRE.MatchString(dir)
}

// errorLineRE matches the line Stata writes for a return code: r(198);
var errorLineRE = regexp.MustCompile(`^r\((\d+)\);$`)

// finalErrorWindow is how much of the end of a log stataErrorCode reads.
const finalErrorWindow = 4 << 10

// stataErrorCode returns the return code a do-file stopped with, read from
// the end of its log: the last non-blank line is "r(<n>);" when Stata
// stopped on an error. A do-file that ran to its end, or a log that does not
// end that way (a run that was killed), gives 0. An "r(<n>);" that the
// do-file merely displayed earlier does not count.
func stataErrorCode(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("reading log: %w", err)
	}
	off := max(fi.Size()-finalErrorWindow, 0)
	buf := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("reading log: %w", err)
	}
	lines := bytes.Split(buf[:n], []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(string(lines[i]))
		if line == "" {
			continue
		}
		m := errorLineRE.FindStringSubmatch(line)
		if m == nil {
			return 0, nil
		}
		code, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, nil
		}
		return code, nil
	}
	return 0, nil
}
