package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runLog runs src through the interpreter and returns the log it writes.
func runLog(t *testing.T, src string) string {
	t.Helper()
	var b bytes.Buffer
	if err := run(&b, src, func(time.Duration) {}); err != nil {
		t.Fatalf("run: %v", err)
	}
	return b.String()
}

func TestRunSuccess(t *testing.T) {
	got := runLog(t, "display \"hello\"\ndi \"a\" \"b\" 42\nsleep 10\ndisplay 0.5\n")
	want := `. display "hello"
hello

. di "a" "b" 42
ab42

. sleep 10

. display 0.5
.5

. 
end of do-file
`
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunError(t *testing.T) {
	got := runLog(t, "display \"before\"\nerror 198\ndisplay \"after\"\n")
	want := `. display "before"
before

. error 198
invalid syntax
r(198);

end of do-file
r(198);
`
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunComments(t *testing.T) {
	src := strings.Join([]string{
		"* a star comment",
		"// a slash comment",
		"",
		`display "x" // trailing comment`,
		"/* a block",
		"   comment */ display \"y\"",
		`display "a" ///`,
		`  "b"`,
		`display "http://example.com // not a comment"`,
	}, "\n") + "\n"
	got := runLog(t, src)
	want := `. * a star comment
. // a slash comment
. 
. display "x" // trailing comment
x

. /* a block
>    comment */ display "y"
y

. display "a" ///
>   "b"
ab

. display "http://example.com // not a comment"
http://example.com // not a comment

. 
end of do-file
`
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunUnrecognizedAndExit(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{
			name: "unrecognized",
			src:  "regress y x\n",
			want: ". regress y x\nunrecognized command: regress\nr(199);\n\nend of do-file\nr(199);\n",
		},
		{
			name: "exit",
			src:  "display 1\nexit\ndisplay 2\n",
			want: ". display 1\n1\n\n. exit\n\nend of do-file\n",
		},
		{
			name: "name not found",
			src:  "display price\n",
			want: ". display price\nprice not found\nr(111);\n\nend of do-file\nr(111);\n",
		},
		{
			name: "error 601",
			src:  "error 601\n",
			want: ". error 601\nfile not found\nr(601);\n\nend of do-file\nr(601);\n",
		},
		{
			name: "error without standard message",
			src:  "error 4321\n",
			want: ". error 4321\nr(4321);\n\nend of do-file\nr(4321);\n",
		},
		{
			name: "too few quotes",
			src:  "display \"abc\n",
			want: ". display \"abc\ntoo few quotes\nr(132);\n\nend of do-file\nr(132);\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runLog(t, tt.src); got != tt.want {
				t.Errorf("log:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestFormatNumber(t *testing.T) {
	for in, want := range map[float64]string{
		42: "42", -3: "-3", 0.5: ".5", -0.25: "-.25", 1.5: "1.5", 1.0 / 3: ".33333333",
	} {
		if got := formatNumber(in); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	inv, err := parseArgs([]string{"-q", "-b", "do", "/x/analysis", "a1"})
	if err != nil {
		t.Fatal(err)
	}
	if !inv.quiet || inv.file != "/x/analysis.do" || inv.doEcho != "do /x/analysis a1" {
		t.Errorf("parseArgs = %+v", inv)
	}
	if got := logFileName(inv.file); got != "analysis.log" {
		t.Errorf("logFileName = %q", got)
	}
	for _, bad := range [][]string{{"do", "x.do"}, {"-b"}, {"-b", "-z", "do", "x.do"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q): no error", bad)
		}
	}
}

// buildStandin builds the stand-in binary into a temporary directory.
func buildStandin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stata-standin")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary runs the built stand-in the way the runner runs Stata and checks
// the log it leaves in the working directory, the exit status and the
// streaming of the log while a command runs.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildStandin(t)
	src := t.TempDir()
	cwd := t.TempDir()
	doFile := filepath.Join(src, "job.do")
	if err := os.WriteFile(doFile, []byte("display \"first\"\nsleep 300\nerror 198\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-b", "do", doFile)
	cmd.Dir = cwd
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(cwd, "job.log")
	// The first display must be in the log while the sleep still runs.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "\nfirst\n") {
			if strings.Contains(string(b), "end of do-file") {
				t.Fatal("log appeared only at the end")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never showed the first display; log:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v (Stata's batch mode exits 0 even after an error); stderr: %s", err, stderr.String())
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{
		"stand-in for Stata",
		". do " + doFile + " \n\n. display \"first\"\nfirst\n\n. sleep 300\n\n. error 198\ninvalid syntax\nr(198);\n\nend of do-file\nr(198);\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	t.Run("quiet and missing file", func(t *testing.T) {
		cmd := exec.Command(bin, "-q", "-b", "do", "nothere")
		cmd.Dir = cwd
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("exit: %v: %s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(cwd, "nothere.log"))
		if err != nil {
			t.Fatal(err)
		}
		if want := ". do nothere \nfile nothere.do not found\nr(601);\n"; string(b) != want {
			t.Errorf("log %q, want %q", b, want)
		}
	})

	t.Run("usage error", func(t *testing.T) {
		cmd := exec.Command(bin, "do", doFile)
		cmd.Dir = cwd
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "usage") {
			t.Errorf("want a usage error, got %v: %s", err, out)
		}
	})
}

// TestRunCdAndDo runs a wrapper of the kind the runner writes: cd to a
// directory, then do a file there by a relative name, nested; and checks the
// log, the error a nested do-file passes on, and the errors of cd and do.
func TestRunCdAndDo(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inner.do"), []byte("display \"in\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.do"), []byte("error 198\ndisplay \"after\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runLog(t, "cd \""+dir+"\"\ndo \"inner.do\"\ndisplay \"out\"\n")
	want := ". cd \"" + dir + "\"\n" + dir + "\n\n. do \"inner.do\"\n\n. display \"in\"\nin\n\n. \nend of do-file\n\n" +
		". display \"out\"\nout\n\n. \nend of do-file\n"
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	if wd, _ := os.Getwd(); wd != dir {
		t.Errorf("cwd %s after cd, want %s", wd, dir)
	}

	got = runLog(t, "do `\""+filepath.Join(dir, "bad")+"\"'\ndisplay \"not reached\"\n")
	want = ". do `\"" + filepath.Join(dir, "bad") + "\"'\n\n. error 198\ninvalid syntax\nr(198);\n\nend of do-file\nr(198);\n\nend of do-file\nr(198);\n"
	if got != want {
		t.Errorf("nested error log:\n%s\nwant:\n%s", got, want)
	}

	for src, want := range map[string]string{
		"cd \"/no/such/dir\"\n": ". cd \"/no/such/dir\"\nunable to change to /no/such/dir\nr(170);\n\nend of do-file\nr(170);\n",
		"do \"missing.do\"\n":   ". do \"missing.do\"\nfile missing.do not found\nr(601);\n\nend of do-file\nr(601);\n",
		"do \"unclosed\n":       ". do \"unclosed\ninvalid syntax\nr(198);\n\nend of do-file\nr(198);\n",
	} {
		if got := runLog(t, src); got != want {
			t.Errorf("log of %q:\n%s\nwant:\n%s", src, got, want)
		}
	}

	self := filepath.Join(dir, "self.do")
	if err := os.WriteFile(self, []byte("do \""+self+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runLog(t, "do \""+self+"\"\n"); !strings.HasSuffix(got, "end of do-file\nr(1000);\n") {
		t.Errorf("a do-file that runs itself should stop at the depth limit; log ends:\n%s", got[max(len(got)-300, 0):])
	}
}
