package embedded

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

func createTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

func listStable(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends, nil
}

// A clean stop is remembered: the next start scans nothing, and the data
// is still there.
func TestStartAfterACleanStopRecoversNothing(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := newTxnProducer([]string{c.Addr()}, producerTxID)
	if err != nil {
		t.Fatal(err)
	}
	if err := createTopic(ctx, cl, crashTopic, 1); err != nil {
		t.Fatal(err)
	}
	if err := inTxn(ctx, cl, true, 0, "a0"); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	state, _ := os.ReadFile(stateFile(dir))
	if strings.TrimSpace(string(state)) != stateStopped {
		t.Fatalf("state file after Close: %q", state)
	}

	c, err = Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Recovered.Partitions != 0 || len(c.Recovered.Aborted) != 0 {
		t.Fatalf("recovered after a clean stop: %+v", c.Recovered)
	}
	if vals, reached := readToEnd(t, []string{c.Addr()}, 0, 10*time.Second); !reached || len(vals) != 1 || vals[0] != "a0" {
		t.Fatalf("after a clean restart read %v (end reached %v)", vals, reached)
	}
}

// Two processes must never share a log: the second is refused while the
// first runs, with the owner named.
func TestStartRefusesADirInUse(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), "pid=") {
		t.Fatalf("second Start: %v, want 'in use by another process (running pid=...)'", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		t.Fatalf("Start after the owner closed: %v", err)
	}
	c.Close()
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Config
		want string
	}{
		{"ok", Config{Dir: "d", Addr: "127.0.0.1:0"}, ""},
		{"no dir", Config{Addr: "127.0.0.1:0"}, "Config.Dir is empty"},
		{"no addr", Config{Dir: "d"}, "Config.Addr is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
