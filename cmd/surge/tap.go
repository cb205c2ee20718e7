package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/surgehq/surge/pkg/avroserde"
	"github.com/surgehq/surge/pkg/cli"
	"github.com/surgehq/surge/pkg/config"
	"github.com/surgehq/surge/pkg/kafkax"
)

type tapConfig struct {
	Kafka         config.Kafka
	Registry      config.Registry
	FromBeginning bool
	ExitAtEnd     bool
	Max           int
	Partition     int32
	Uncommitted   bool
}

func newTapCommand() *cobra.Command {
	var c tapConfig
	cmd := &cobra.Command{
		Use:   "tap TOPIC",
		Short: "Print a topic's records as JSON lines, Avro values decoded",
		Long: `Print one JSON object per record: topic, partition, offset, timestamp, key,
headers and the value decoded from Avro (Confluent wire format) with the
schema the registry holds for its id. A value that does not decode is
printed as value_base64 with value_error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.BindEnv(cmd.Flags()); err != nil {
				return cli.ConfigError{Err: err}
			}
			if err := errors.Join(c.Kafka.Validate(), c.Registry.Validate()); err != nil {
				return cli.ConfigError{Err: err}
			}
			if !cmd.Flags().Changed("partition") {
				c.Partition = -1
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return tap(ctx, c, args[0], cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&c.Kafka.Brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	c.Registry.Flags(fs)
	fs.BoolVar(&c.FromBeginning, "from-beginning", false, "start at the earliest offset instead of the end")
	fs.BoolVar(&c.ExitAtEnd, "exit-at-end", false, "stop at the end offsets seen at start (as kcat -e)")
	fs.IntVar(&c.Max, "max", 0, "stop after this many records (0: no limit)")
	fs.Int32Var(&c.Partition, "partition", -1, "read only this partition")
	fs.BoolVar(&c.Uncommitted, "read-uncommitted", false, "also show records of open and aborted transactions")
	c.Kafka.Partitions, c.Kafka.ReplicationFactor = 1, 1
	return cmd
}

// tapRecord is one output line.
type tapRecord struct {
	kafkax.RecordMeta
	Value       json.RawMessage `json:"value"`
	ValueError  string          `json:"value_error,omitempty"`
	ValueBase64 string          `json:"value_base64,omitempty"`
}

func tap(ctx context.Context, c tapConfig, topic string, out io.Writer) error {
	srCl, err := sr.NewClient(sr.URLs(c.Registry.URL))
	if err != nil {
		return fmt.Errorf("creating registry client: %w", err)
	}
	reg := avroserde.NewRegistry(srCl)

	isolation := kgo.ReadCommitted()
	if c.Uncommitted {
		isolation = kgo.ReadUncommitted()
	}
	admCl, err := kgo.NewClient(kafkax.ClientOpts(c.Kafka, nil)...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	// Where each partition starts and, with --exit-at-end, where it stops.
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	var ends kadm.ListedOffsets
	if c.Uncommitted {
		ends, err = adm.ListEndOffsets(ctx, topic)
	} else {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
	}
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition → end offset still to reach
	ends.Each(func(e kadm.ListedOffset) {
		if c.Partition >= 0 && e.Partition != c.Partition {
			return
		}
		start := e.Offset
		if c.FromBeginning {
			if s, ok := starts.Lookup(topic, e.Partition); ok {
				start = s.Offset
			}
		}
		from[e.Partition] = kgo.NewOffset().At(start)
		if e.Offset > start {
			remaining[e.Partition] = e.Offset
		}
	})
	if len(from) == 0 {
		return fmt.Errorf("topic %s has no partition %d", topic, c.Partition)
	}
	if c.ExitAtEnd && len(remaining) == 0 {
		return nil
	}

	cl, err := kgo.NewClient(kafkax.ClientOpts(c.Kafka, nil,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(isolation),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()

	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	printed := 0
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			fetchErr = fmt.Errorf("reading %s/%d: %w", t, p, err)
		})
		if fetchErr != nil {
			return fetchErr
		}
		for _, r := range fetches.Records() {
			if c.ExitAtEnd {
				if end, ok := remaining[r.Partition]; ok && r.Offset >= end-1 {
					delete(remaining, r.Partition)
				} else if !ok {
					continue // past the end seen at start
				}
			}
			if r.Attrs.IsControl() {
				continue
			}
			if err := enc.Encode(toTapRecord(ctx, reg, r)); err != nil {
				return err
			}
			printed++
			if c.Max > 0 && printed >= c.Max {
				return nil
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if c.ExitAtEnd && len(remaining) == 0 {
			return nil
		}
	}
}

func toTapRecord(ctx context.Context, reg *avroserde.Registry, r *kgo.Record) tapRecord {
	tr := tapRecord{RecordMeta: kafkax.MetaOf(r)}
	switch {
	case r.Value == nil:
		tr.Value = json.RawMessage("null") // a tombstone
	default:
		v, err := reg.DecodeJSON(ctx, r.Value)
		if err != nil {
			tr.Value = json.RawMessage("null")
			tr.ValueError = err.Error()
			tr.ValueBase64 = base64.StdEncoding.EncodeToString(r.Value)
		} else {
			tr.Value = v
		}
	}
	return tr
}
