package runner

import (
	"strings"
)

// countCommands returns the number of commands in the do-file source src,
// as Stata will echo them: lines joined across `///` continuations, with
// blank lines, `*` comment lines and `//` and `/* */` comments left out. It
// is the `total` of a call's progress; nested do-files and loops make Stata
// echo more, which the progress reporting allows for.
func countCommands(src string) int {
	n := 0
	inBlock := false // inside a /* */ comment
	joining := false // the previous line ended with ///
	var cmd strings.Builder
	for _, line := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		line, inBlock = stripBlockComments(line, inBlock)
		cont := false
		if i := continuationIndex(line); i >= 0 {
			line, cont = line[:i], true
		} else if i := lineCommentIndex(line); i >= 0 {
			line = line[:i]
		}
		if !joining {
			cmd.Reset()
		}
		cmd.WriteString(strings.TrimSpace(line))
		cmd.WriteByte(' ')
		joining = cont
		if joining {
			continue
		}
		s := strings.TrimSpace(cmd.String())
		if s != "" && !strings.HasPrefix(s, "*") {
			n++
		}
	}
	if joining {
		if s := strings.TrimSpace(cmd.String()); s != "" && !strings.HasPrefix(s, "*") {
			n++
		}
	}
	return n
}

// stripBlockComments removes the /* */ comments from line; inBlock says the
// line starts inside one, and the result says whether it ends inside one.
func stripBlockComments(line string, inBlock bool) (string, bool) {
	var b strings.Builder
	for len(line) > 0 {
		if inBlock {
			i := strings.Index(line, "*/")
			if i < 0 {
				return b.String(), true
			}
			line, inBlock = line[i+2:], false
			b.WriteByte(' ')
			continue
		}
		i := strings.Index(line, "/*")
		if i < 0 {
			b.WriteString(line)
			break
		}
		b.WriteString(line[:i])
		line, inBlock = line[i+2:], true
	}
	return b.String(), inBlock
}

// continuationIndex returns where a `///` continuation starts in line (at
// the start of the line or after a blank), or -1.
func continuationIndex(line string) int {
	return commentIndex(line, "///")
}

// lineCommentIndex returns where a `//` comment starts in line (at the start
// of the line or after a blank), or -1.
func lineCommentIndex(line string) int {
	return commentIndex(line, "//")
}

// commentIndex returns the first index of mark in line that is at the start
// or follows a space or tab, or -1.
func commentIndex(line, mark string) int {
	for off := 0; off < len(line); {
		i := strings.Index(line[off:], mark)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || line[i-1] == ' ' || line[i-1] == '\t' {
			return i
		}
		off = i + 1
	}
	return -1
}
