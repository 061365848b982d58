package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appendFile appends s to the file at path.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	tl := newLogTail(path)
	if got := tl.Poll(); got != "" {
		t.Errorf("missing file: %q", got)
	}
	appendFile(t, path, "\n  banner\n\n. do x.do \n\n")
	if got := tl.Poll(); got != ". do x.do" {
		t.Errorf("poll 1: %q", got)
	}
	appendFile(t, path, ". display \"a\"\na\n\n. \n")
	if got := tl.Poll(); got != "a" {
		t.Errorf("poll 2: %q (a lone prompt does not count)", got)
	}
	appendFile(t, path, ". sleep 10") // no newline yet
	if got := tl.Poll(); got != "a" {
		t.Errorf("poll 3: %q (a partial line does not count)", got)
	}
	appendFile(t, path, "00\r\n")
	if got := tl.Poll(); got != ". sleep 1000" {
		t.Errorf("poll 4: %q", got)
	}
	// A burst larger than the window: only its end is read.
	appendFile(t, path, strings.Repeat("filler line\n", tailWindow/6)+"last of the burst\n")
	if got := tl.Poll(); got != "last of the burst" {
		t.Errorf("poll 5: %q", got)
	}
	// A log replaced by a shorter one is read from its start.
	if err := os.WriteFile(path, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tl.Poll(); got != "new" {
		t.Errorf("poll 6: %q", got)
	}
	appendFile(t, path, strings.Repeat("é", maxLineBytes)+"\n")
	if got := tl.Poll(); len(got) > maxLineBytes+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("long line not cut: %d bytes", len(got))
	}
}

func TestReadLog(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.log")
	if err := os.WriteFile(short, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lt, err := readLog(short, 100)
	if err != nil || lt.Text != "one\ntwo\n" || lt.Truncated || lt.Size != 8 {
		t.Errorf("short: %+v, %v", lt, err)
	}

	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%50))
		b.WriteString("\n")
	}
	b.WriteString("end of do-file\nr(198);\n")
	long := filepath.Join(dir, "long.log")
	if err := os.WriteFile(long, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lt, err = readLog(long, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !lt.Truncated || lt.Size != int64(b.Len()) {
		t.Errorf("long: truncated=%v size=%d", lt.Truncated, lt.Size)
	}
	head, tail, ok := strings.Cut(lt.Text, "\n[... ")
	if !ok {
		t.Fatalf("no marker:\n%s", lt.Text)
	}
	if !strings.HasPrefix(head, "line \nline x\n") || !strings.HasSuffix(head, "\n") {
		t.Errorf("head does not start the log at a line boundary: %q", head[:min(len(head), 40)])
	}
	if !strings.HasSuffix(tail, "end of do-file\nr(198);\n") || !strings.Contains(tail, "the full log is "+long) {
		t.Errorf("tail: %q", tail[max(len(tail)-200, 0):])
	}
	if len(head)+len(tail) > 1000+200 {
		t.Errorf("result too long: %d bytes", len(lt.Text))
	}

	if _, err := readLog(filepath.Join(dir, "none.log"), 10); !isNotExist(err) {
		t.Errorf("missing log: %v", err)
	}
}
