package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// BenchmarkRecoverScan is what an unclean start costs: Recover reads the
// batch headers of 1,000,000 records (1 KB each, 6 partitions, written in
// transactions of 1,000 like a stage's) from a cluster keeping its log on
// disk. Run it once: -benchtime 1x.
func BenchmarkRecoverScan(b *testing.B) {
	const records, txnSize = 1_000_000, 1000
	ctx := context.Background()
	c, err := Start(ctx, Config{Dir: b.TempDir(), Addr: "127.0.0.1:0"}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	brokers := []string{c.Addr()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("bench"), kgo.DefaultProduceTopic(crashTopic))
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
	b.ResetTimer()
	start := time.Now()
	rec, err := Recover(ctx, brokers, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if len(rec.Aborted) != 0 {
		b.Fatalf("aborted %s", rec.summary())
	}
	b.ReportMetric(took.Seconds(), "s/scan")
	b.ReportMetric(float64(records)/took.Seconds(), "records/s")
	b.ReportMetric(float64(rec.Batches), "batches")
}
