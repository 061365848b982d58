package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Run statuses, as reported in results and logs.
const (
	statusOK         = "ok"          // the do-file ran to its end
	statusStataError = "stata_error" // Stata stopped on an error: r(<n>);
	statusTimeout    = "timeout"     // stopped at its time limit
	statusCancelled  = "cancelled"   // stopped because the call ended
	statusFailed     = "failed"      // Stata could not be run or wrote no log
)

// maxProcessOutput caps the stdout and stderr of Stata kept for a result;
// Stata's batch mode writes there only when it cannot start properly.
const maxProcessOutput = 4 << 10

// A job is one run to do: Stata runs DoFile in Dir and writes LogPath.
type job struct {
	tool    string        // the tool that asked, for logs
	doFile  string        // the do-file given to Stata: a safe path
	target  string        // the do-file that doFile runs, for logs
	dir     string        // the working directory
	logPath string        // where Stata writes the log
	timeout time.Duration // the run's limit
}

// An outcome is what became of a job.
type outcome struct {
	status   string
	code     int           // Stata's return code, for statusStataError
	exit     string        // how the process ended, e.g. "exit status 0"
	exitCode int           // the process's exit code; -1 if a signal ended it; 0 if it never ran
	ran      bool          // whether Stata was started
	pid      int           // Stata's pid (and process group id), if it was started
	started  time.Time     // when Stata was started
	duration time.Duration // from the start of Stata to its end
	queued   time.Duration // time spent waiting for a worker
	reason   string        // for timeout, cancelled and failed: what happened
	log      logText       // the log (so far), if any
	logErr   error         // why the log could not be read
	output   string        // Stata's stdout and stderr, if it wrote any
	isolated bool          // a batch run, not a call in a session
	note     string        // for a call in a session: why the session is new
}

// execute runs a job: it waits for a worker, starts Stata, reports progress
// until Stata ends, the job's time runs out, ctx ends or the Runner closes,
// stops Stata if it is still running, and reads the log. It returns once
// Stata's process group is gone. It returns an error only when the job could
// not join the queue.
func (r *Runner) execute(ctx context.Context, j job, prog *progress) (outcome, error) {
	began := time.Now()
	t, err := r.pool.Join()
	if err != nil {
		return outcome{}, err
	}
	defer t.Release()

	tick := time.NewTicker(r.cfg.ProgressInterval)
	defer tick.Stop()

	select {
	case <-t.Ready():
	default:
		prog.report(ctx, r.queuedMessage(t))
	wait:
		for {
			select {
			case <-t.Ready():
				break wait
			case <-ctx.Done():
				return outcome{status: statusCancelled, queued: time.Since(began),
					reason: "the call was cancelled while it waited for a Stata worker; Stata never started"}, nil
			case <-r.closing:
				return outcome{status: statusCancelled, queued: time.Since(began),
					reason: "the server is shutting down; Stata never started"}, nil
			case <-tick.C:
				prog.report(ctx, r.queuedMessage(t))
			}
		}
	}
	queued := time.Since(began)

	// Stata replaces the log anyway; removing it first keeps the tail from
	// reporting lines of an earlier run.
	if err := os.Remove(j.logPath); err != nil && !isNotExist(err) {
		return outcome{status: statusFailed, queued: queued, reason: fmt.Sprintf("removing the old log: %v", err)}, nil
	}
	out, err := os.CreateTemp(j.dir, "stata-output-*.txt")
	if err != nil {
		return outcome{status: statusFailed, queued: queued, reason: fmt.Sprintf("creating a file for Stata's output: %v", err)}, nil
	}
	defer os.Remove(out.Name())
	defer out.Close()

	stata := r.stataPath()
	start := time.Now()
	p, err := startProcess(stata, []string{"-b", "do", j.doFile}, j.dir, out)
	if err != nil {
		return outcome{status: statusFailed, queued: queued, reason: err.Error()}, nil
	}
	r.log.Info("stata run started",
		zap.String("tool", j.tool), zap.String("do_file", j.target), zap.String("dir", j.dir),
		zap.Int("pid", p.Pid()), zap.Duration("timeout", j.timeout), zap.Duration("queued", queued))
	prog.report(ctx, "started: "+filepath.Base(stata)+" -b do "+filepath.Base(j.doFile))

	o := outcome{status: statusOK, ran: true, pid: p.Pid(), started: start, queued: queued}
	limit := time.NewTimer(j.timeout)
	defer limit.Stop()
	tail := newLogTail(j.logPath)
run:
	for {
		select {
		case <-p.Done():
			break run
		case <-limit.C:
			o.status = statusTimeout
			o.reason = fmt.Sprintf("the run reached its time limit of %s; Stata's process group was stopped", j.timeout)
		case <-ctx.Done():
			o.status = statusCancelled
			o.reason = "the call was cancelled; Stata's process group was stopped"
		case <-r.closing:
			o.status = statusCancelled
			o.reason = "the server is shutting down; Stata's process group was stopped"
		case <-tick.C:
			if line := tail.Poll(); line != "" {
				prog.report(ctx, line)
			} else {
				prog.report(ctx, fmt.Sprintf("running: %s, no log line yet", time.Since(start).Round(time.Second)))
			}
			continue
		}
		p.stop(r.cfg.KillGrace)
		break run
	}
	o.duration = time.Since(start)
	o.exit, o.exitCode = p.exitStatus()
	o.output = readOutput(out)

	o.log, o.logErr = readLog(j.logPath, r.cfg.MaxOutput)
	switch {
	case o.status != statusOK:
	case o.logErr != nil:
		o.status = statusFailed
		if isNotExist(o.logErr) {
			o.reason = fmt.Sprintf("Stata wrote no log at %s (%s)", j.logPath, o.exit)
		} else {
			o.reason = o.logErr.Error()
		}
	default:
		code, err := stataErrorCode(j.logPath)
		if err != nil {
			o.status, o.reason = statusFailed, err.Error()
		} else if code != 0 {
			o.status, o.code = statusStataError, code
		} else if o.exitCode != 0 {
			o.status, o.reason = statusFailed, "Stata ended with "+o.exit
		}
	}
	r.log.Info("stata run finished",
		zap.String("tool", j.tool), zap.String("do_file", j.target), zap.Int("pid", p.Pid()),
		zap.String("status", o.status), zap.Int("code", o.code), zap.String("exit", o.exit),
		zap.Duration("duration", o.duration), zap.String("log", j.logPath))
	if r.hookRunDone != nil {
		r.hookRunDone(j, o)
	}
	return o, nil
}

// queuedMessage is the progress message for a call waiting with ticket t.
func (r *Runner) queuedMessage(t *ticket) string {
	busy, _ := r.pool.Stats()
	return queuedMessage(t.Ahead(), busy, r.cfg.Workers)
}

// readOutput returns what Stata wrote to stdout and stderr, at most
// maxProcessOutput bytes of it.
func readOutput(f *os.File) string {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxProcessOutput))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
}
