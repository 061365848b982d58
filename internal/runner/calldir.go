package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// callDirPrefix starts the name of every directory the Runner makes in its
// work directory, one per call: call-<pid>-<time>-<random>. The sweep at
// start removes only entries with this prefix.
const callDirPrefix = "call-"

// Names of the files in a call's directory.
const (
	wrapperName   = "run.do"       // the do-file Stata is given
	wrapperLog    = "run.log"      // the log Stata writes for it
	selectionName = "selection.do" // the code of stata_run_selection
)

// newCallDir makes a new, private directory for one call in the work
// directory.
func (r *Runner) newCallDir() (string, error) {
	name := fmt.Sprintf("%s%d-%s-%s", callDirPrefix, os.Getpid(), time.Now().Format("20060102-150405"), randomID())
	dir := filepath.Join(r.workDir, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("making the call's directory: %w", err)
	}
	return dir, nil
}

// removeCallDir removes a call's directory and everything in it.
func (r *Runner) removeCallDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		r.log.Warn("removing a call's files", zap.String("dir", dir), zap.Error(err))
	}
}

// sweep removes the call directories in the work directory that a process
// no longer running left behind: a crash, a restart, or logs kept by
// KeepLogs past the end of their process. Directories of a process that
// still runs (this one included: another Runner may share the work
// directory across a config reload) are left to it.
func (r *Runner) sweep() {
	entries, err := os.ReadDir(r.workDir)
	if err != nil {
		r.log.Warn("sweeping the work directory", zap.String("work_dir", r.workDir), zap.Error(err))
		return
	}
	removed := 0
	for _, e := range entries {
		pid, ok := callDirPid(e.Name())
		if !ok || !e.IsDir() || processRuns(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.workDir, e.Name())); err != nil {
			r.log.Warn("sweeping the work directory", zap.String("entry", e.Name()), zap.Error(err))
			continue
		}
		removed++
	}
	if removed > 0 {
		r.log.Info("removed the files of earlier runs", zap.String("work_dir", r.workDir), zap.Int("call_dirs", removed))
	}
}

// callDirPid returns the pid in the name of a call or session directory.
func callDirPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, callDirPrefix)
	if !ok {
		rest, ok = strings.CutPrefix(name, sessionDirPrefix)
	}
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// processRuns reports whether a process with this pid exists: this one, or
// one signal 0 reaches (or may not reach, EPERM, which means it exists).
func processRuns(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// resolveAllowedDirs returns the configured allowed directories as absolute
// paths with symbolic links resolved.
func resolveAllowedDirs(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(expandHome(d))
		if err != nil {
			return nil, fmt.Errorf("allowed_dirs %q: %w", d, err)
		}
		resolved, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("allowed_dirs %q: %w", d, err)
		}
		fi, err := os.Stat(resolved)
		if err != nil {
			return nil, fmt.Errorf("allowed_dirs %q: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("allowed_dirs %q: not a directory", d)
		}
		out = append(out, resolved)
	}
	return out, nil
}

// resolveAllowed returns path with its symbolic links resolved, and an error
// naming the setting when allowed_dirs is set and the resolved path is in
// none of them. what names the argument, for the error.
func (r *Runner) resolveAllowed(what, path string) (string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("resolving %s %s: %w", what, path, err)
	}
	if len(r.allowed) == 0 {
		return resolved, nil
	}
	for _, dir := range r.allowed {
		if isWithin(resolved, dir) {
			return resolved, nil
		}
	}
	shown := path
	if resolved != path {
		shown = fmt.Sprintf("%s (which resolves to %s)", path, resolved)
	}
	return "", fmt.Errorf("%s %s is outside the directories this server allows (its allowed_dirs setting: %s)",
		what, shown, strings.Join(r.allowed, ", "))
}

// isWithin reports whether path is dir or inside it; both must be clean and
// absolute.
func isWithin(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// checkStataQuotable returns an error when path cannot be written between
// double quotes in a Stata command: Stata expands macros ($name, `name') in
// every command line, and a quote or a line break would end the string.
func checkStataQuotable(what, path string) error {
	if i := strings.IndexAny(path, "\"`$\\\n\r"); i >= 0 {
		return fmt.Errorf("%s %q has a character Stata's cd and do cannot take (%q); rename it", what, path, path[i])
	}
	return nil
}

// writeWrapper writes the do-file Stata is given in the call's directory:
// it changes to the working directory, then runs the do-file, so that the
// do-file's relative paths are relative to dir while Stata writes its log in
// the call's directory. With dir "" it stays in Stata's current directory.
func writeWrapper(callDir, dir, doFile string) error {
	src := fmt.Sprintf("do \"%s\"\n", doFile)
	if dir != "" {
		src = fmt.Sprintf("cd \"%s\"\n", dir) + src
	}
	if err := os.WriteFile(filepath.Join(callDir, wrapperName), []byte(src), 0o600); err != nil {
		return fmt.Errorf("writing the wrapper do-file: %w", err)
	}
	return nil
}

// writeSessionWrapper writes the wrapper a session includes for a call:
// `cd` to dir unless dir is "", then the code itself, or `do` of doFile when
// code is "". It returns the wrapper's path and the echo line after which
// the user's commands come ("" when they come first).
func writeSessionWrapper(callDir, dir, doFile, code string) (string, string, error) {
	var src strings.Builder
	start := ""
	if dir != "" {
		fmt.Fprintf(&src, "cd \"%s\"\n", dir)
		start = fmt.Sprintf(". cd \"%s\"", dir)
	}
	if code != "" {
		src.WriteString(code)
	} else {
		fmt.Fprintf(&src, "do \"%s\"\n", doFile)
		start = fmt.Sprintf(". do \"%s\"", doFile)
	}
	path := filepath.Join(callDir, wrapperName)
	if err := os.WriteFile(path, []byte(src.String()), 0o600); err != nil {
		return "", "", fmt.Errorf("writing the wrapper do-file: %w", err)
	}
	return path, start, nil
}
