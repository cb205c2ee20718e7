package embedded

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// benchLog starts a cluster in dir holding 1,000,000 records (1 KB each,
// 6 partitions, written in transactions of 1,000 like a stage's).
func benchLog(b *testing.B, dir string) *Cluster {
	const records, txnSize = 1_000_000, 1000
	ctx := context.Background()
	c, err := Start(ctx, Config{Dir: dir, Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addr()), kgo.TransactionalID("bench"), kgo.DefaultProduceTopic(crashTopic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := createTopic(ctx, cl, crashTopic, 6); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1000)
	for t := 0; t < records/txnSize; t++ {
		if err := cl.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		for i := range txnSize {
			cl.Produce(ctx, &kgo.Record{Key: []byte{byte(i), byte(t)}, Value: value}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkRecoverScan is what an unclean start costs once the cluster is
// up: Recover reads the batch headers of benchLog's 1,000,000 records.
// Run it once: -benchtime 1x.
func BenchmarkRecoverScan(b *testing.B) {
	c := benchLog(b, b.TempDir())
	defer c.Close()
	b.ResetTimer()
	start := time.Now()
	rec, err := Recover(context.Background(), []string{c.Addr()}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if len(rec.Aborted) != 0 {
		b.Fatalf("aborted %s", rec.summary())
	}
	b.ReportMetric(took.Seconds(), "s/scan")
	b.ReportMetric(1_000_000/took.Seconds(), "records/s")
	b.ReportMetric(float64(rec.Batches), "batches")
}

// BenchmarkRepairIndexes is what an unclean start costs before the
// cluster is up: repairIndexes reads every segment of benchLog's log
// and rewrites the one index cut short. -benchtime 1x.
func BenchmarkRepairIndexes(b *testing.B) {
	dir := b.TempDir()
	c := benchLog(b, dir)
	c.Close()
	idx := filepath.Join(dir, "partitions", crashTopic+"-0", "0.idx")
	st, err := os.Stat(idx)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(idx, st.Size()-indexEntrySize); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	repaired, err := repairIndexes(dir)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if len(repaired) != 1 {
		b.Fatalf("repaired %q, want partition 0's index", repaired)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "partitions", "*", "*.dat"))
	var size int64
	for _, seg := range segs {
		if st, err := os.Stat(seg); err == nil {
			size += st.Size()
		}
	}
	b.ReportMetric(took.Seconds(), "s/repair")
	b.ReportMetric(float64(size)/1e6, "MB-read")
	b.ReportMetric(1_000_000/took.Seconds(), "records/s")
}
