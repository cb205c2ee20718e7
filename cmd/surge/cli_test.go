package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// cliTimeout is how long a command the tests run may take unless the test
// says otherwise.
const cliTimeout = 30 * time.Second

// execCLI runs the surge command line in process with ctx, printing to
// stdout and stderr (one writer for both keeps them interleaved).
func execCLI(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	cmd := newRootCommand()
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// runCLI runs the surge command line in process and returns its output,
// stdout and stderr together.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	var out bytes.Buffer
	err := execCLI(ctx, &out, &out, args...)
	return out.String(), err
}

// stackCLI runs the surge command line against the surge dev whose admin
// API is at adminURL and whose data directory (its admin token) is dir,
// and returns what it printed; a command that fails fails the test.
func stackCLI(t *testing.T, adminURL, dir string) func(args ...string) string {
	adminAddr := strings.TrimPrefix(adminURL, "http://")
	return func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, append(args, "--admin-addr", adminAddr, "--data-dir", dir)...)
		if err != nil {
			t.Fatalf("surge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
}

// runSurge runs the command line in process, with a deadline of its own,
// and returns stdout and stderr apart.
func runSurge(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errOut bytes.Buffer
	err = execCLI(ctx, &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

// runCLISplit is runCLI with stdout and stderr kept apart.
func runCLISplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runSurge(t, cliTimeout, args...)
}
