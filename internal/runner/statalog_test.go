package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStataErrorCode(t *testing.T) {
	tests := []struct {
		name, log string
		want      int
	}{
		{"success", ". display 1\n1\n\n. \nend of do-file\n", 0},
		{"error", ". error 198\ninvalid syntax\nr(198);\n\nend of do-file\nr(198);\n", 198},
		{"error and trailing blank lines", ". foo\nunrecognized command: foo\nr(199);\n\nend of do-file\nr(199);\n\n\n", 199},
		{"missing do-file", ". do StataMP \nfile StataMP.do not found\nr(601);\n", 601},
		{"displayed, not raised", ". display \"r(5);\"\nr(5);\n\n. \nend of do-file\n", 0},
		{"killed mid-run", ". sleep 60000\n", 0},
		{"empty", "", 0},
		{"a long log", strings.Repeat("x\n", finalErrorWindow) + "end of do-file\nr(459);\n", 459},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".log")
			if err := os.WriteFile(p, []byte(tt.log), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := stataErrorCode(p)
			if err != nil || got != tt.want {
				t.Errorf("stataErrorCode = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestLogNamesAndSafePaths(t *testing.T) {
	if got := logPathFor("/a/b/analysis.do", "/w"); got != "/w/analysis.log" {
		t.Errorf("logPathFor = %q", got)
	}
	for path, want := range map[string]bool{
		"/home/u/analysis.do":       true,
		"/home/u/clean_data-2.do":   true,
		"/home/u/my project/a.do":   false,
		"/home/u/a b.do":            false,
		"/home/u/01.clean.do":       false,
		"/home/u/analysis.DO":       false,
		"/home/u/analysis":          false,
		`/home/u/"quoted".do`:       false,
		"/home/u/proj+v2/report.do": true,
	} {
		if got := isSafeDoPath(path); got != want {
			t.Errorf("isSafeDoPath(%q) = %v, want %v", path, got, want)
		}
	}
	if got := copyName("/x/first analysis.v2.do", "abc"); got != "first_analysis_v2-abc.do" {
		t.Errorf("copyName = %q", got)
	}
	if got := copyName("/x/.do", "abc"); got != "dofile-abc.do" {
		t.Errorf("copyName = %q", got)
	}
}
