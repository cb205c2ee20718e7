package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

const (
	// maxWriteAttempts bounds how often a write that lost a race to
	// another instance is planned again (within writeTimeout).
	maxWriteAttempts = 40
	// writeTimeout bounds one write (all its attempts) even when the
	// caller's context does not.
	writeTimeout = 30 * time.Second
	// topicSettleTimeout bounds the wait for a new topic to be usable.
	topicSettleTimeout = 10 * time.Second
	// closeTimeout bounds Close.
	closeTimeout = 5 * time.Second
	// fetchErrorBackoff paces the tail loop while fetches fail.
	fetchErrorBackoff = 250 * time.Millisecond
)

// ErrClosed is returned by calls that wait on a closed Registry.
var ErrClosed = errors.New("schema registry closed")

// Registry is a Confluent-compatible schema registry whose state lives in a
// compacted Kafka topic. Its methods are safe for concurrent use.
type Registry struct {
	cfg  Config
	log  *zap.Logger
	prod *kgo.Client // writes, and kadm requests
	cons *kgo.Client // tails the topic
	adm  *kadm.Client

	mu      sync.RWMutex
	st      *state
	next    int64         // offset of the next record to apply; all below are applied
	changed chan struct{} // closed and replaced whenever next moves

	readyAt int64 // end offset at start; ready once next reaches it
	ready   atomic.Bool
	readyCh chan struct{}

	writeMu sync.Mutex // serialises writes inside this instance

	stop      context.CancelFunc
	done      chan struct{} // closed when the tail loop returns
	closeOnce sync.Once
}

// New creates the topic if it is missing (one partition, compacted), notes
// its end offset and starts tailing it from the beginning with its own
// franz-go clients built from kopts (seed brokers, TLS, SASL, logger...;
// not consumer-group or transactional options). ctx bounds only this
// start-up; the tail runs until Close. Use WaitReady before serving.
func New(ctx context.Context, cfg Config, log *zap.Logger, kopts ...kgo.Opt) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating registry config: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("topic", cfg.Topic))

	prodOpts := append(append([]kgo.Opt{}, kopts...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	prod, err := kgo.NewClient(prodOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating registry producer: %w", err)
	}
	adm := kadm.NewClient(prod)
	end, err := prepareTopic(ctx, adm, cfg)
	if err != nil {
		prod.Close()
		return nil, err
	}
	consOpts := append(append([]kgo.Opt{}, kopts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // markers advance the position, so a log ending in one is still "read to the end"
	)
	cons, err := kgo.NewClient(consOpts...)
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("creating registry consumer: %w", err)
	}

	tailCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &Registry{
		cfg: cfg, log: log, prod: prod, cons: cons, adm: adm,
		st: newState(), changed: make(chan struct{}),
		readyAt: end, readyCh: make(chan struct{}),
		stop: stop, done: make(chan struct{}),
	}
	r.mu.Lock()
	r.markReadyLocked()
	r.mu.Unlock()
	go r.tail(tailCtx)
	return r, nil
}

// prepareTopic creates the topic when missing, checks it has one partition
// and returns its end offset (last stable offset, as read_committed sees).
func prepareTopic(ctx context.Context, adm *kadm.Client, cfg Config) (int64, error) {
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	resp, err := adm.CreateTopic(ctx, 1, cfg.ReplicationFactor, configs, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("creating topic %s (replication factor %d): %w", cfg.Topic, cfg.ReplicationFactor, err)
	}
	// Right after creation a real cluster may not know the topic on
	// every broker yet: retry briefly on retriable answers.
	deadline := time.Now().Add(topicSettleTimeout)
	for {
		end, err := describeTopic(ctx, adm, cfg.Topic)
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(deadline) {
			return end, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for topic %s: %w", cfg.Topic, errors.Join(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describeTopic checks the topic has one partition and returns its end offset.
func describeTopic(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describing topic %s: %w", topic, err)
	}
	d := details[topic]
	if d.Err != nil {
		return 0, fmt.Errorf("describing topic %s: %w", topic, d.Err)
	}
	switch n := len(d.Partitions); n {
	case 1:
	case 0:
		return 0, fmt.Errorf("describing topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	default:
		return 0, fmt.Errorf("checking topic %s: it has %d partitions, the registry needs exactly 1 for a total order", topic, n)
	}
	return endOffset(ctx, adm, topic)
}

func endOffset(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("listing end offset of %s: %w", topic, err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok {
		return 0, fmt.Errorf("listing end offset of %s: partition 0 missing from the answer", topic)
	}
	return o.Offset, nil
}

// tail applies every record of the topic in log order until ctx ends. It
// never panics: a record that makes apply panic is logged and skipped, the
// same way on every instance.
func (r *Registry) tail(ctx context.Context) {
	defer close(r.done)
	for {
		fetches := r.cons.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		failed := false
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			failed = true
			r.log.Warn("fetching schemas topic", zap.Int32("partition", p), zap.Error(err))
		})
		var recs []*kgo.Record
		fetches.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
		if len(recs) > 0 {
			r.applyRecords(recs)
		}
		if failed {
			select {
			case <-ctx.Done():
				return
			case <-time.After(fetchErrorBackoff):
			}
		}
	}
}

func (r *Registry) applyRecords(recs []*kgo.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	moved := false
	for _, rec := range recs {
		if rec.Offset < r.next {
			continue // re-delivered after a reset; already applied
		}
		if !rec.Attrs.IsControl() {
			if why := r.applyOne(rec); why != "" {
				r.log.Debug("ignoring schemas record", zap.Int64("offset", rec.Offset),
					zap.ByteString("key", rec.Key), zap.String("reason", why))
			}
		}
		r.next = rec.Offset + 1
		moved = true
	}
	if moved {
		close(r.changed)
		r.changed = make(chan struct{})
		r.markReadyLocked()
	}
}

func (r *Registry) applyOne(rec *kgo.Record) (why string) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("applying schemas record panicked; skipping it", zap.Int64("offset", rec.Offset),
				zap.ByteString("key", rec.Key), zap.Any("panic", p))
			why = "panicked"
		}
	}()
	return r.st.apply(rec.Key, rec.Value)
}

func (r *Registry) markReadyLocked() {
	if r.ready.Load() || r.next < r.readyAt {
		return
	}
	r.ready.Store(true)
	close(r.readyCh)
	r.log.Info("schema registry loaded", zap.Int64("offset", r.next),
		zap.Int("schemas", len(r.st.byID)), zap.Int("subjects", len(r.st.subjects)))
}

// Ready reports whether the topic has been read up to the end offset it had
// when New was called.
func (r *Registry) Ready() bool { return r.ready.Load() }

// WaitReady blocks until Ready, ctx ends or the registry is closed.
func (r *Registry) WaitReady(ctx context.Context) error {
	select {
	case <-r.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the schema registry to load %s: %w", r.cfg.Topic, ctx.Err())
	case <-r.done:
		return ErrClosed
	}
}

// Close stops the tail and closes the Kafka clients, waiting at most a few
// seconds. Calls in flight fail with ErrClosed. Close is idempotent.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		r.stop()
		closed := make(chan struct{})
		go func() {
			r.cons.Close()
			<-r.done
			r.prod.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(closeTimeout):
			r.log.Warn("schema registry did not close in time", zap.Duration("timeout", closeTimeout))
		}
	})
}

// waitApplied blocks until the record at offset has been applied.
func (r *Registry) waitApplied(ctx context.Context, offset int64) error {
	for {
		r.mu.RLock()
		next, changed := r.next, r.changed
		r.mu.RUnlock()
		if next > offset {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for offset %d of %s to be applied: %w", offset, r.cfg.Topic, ctx.Err())
		case <-r.done:
			return ErrClosed
		}
	}
}

// catchUp waits until everything written to the topic so far has been
// applied, so a write is planned on current state.
func (r *Registry) catchUp(ctx context.Context) error {
	end, err := endOffset(ctx, r.adm, r.cfg.Topic)
	if err != nil {
		return err
	}
	if end == 0 {
		return nil
	}
	return r.waitApplied(ctx, end-1)
}

// produce writes one record (value nil: a tombstone) with acks=all and
// returns its offset.
func (r *Registry) produce(ctx context.Context, key, value []byte) (int64, error) {
	rec, err := r.prod.ProduceSync(ctx, &kgo.Record{Topic: r.cfg.Topic, Partition: 0, Key: key, Value: value}).First()
	if err != nil {
		return 0, fmt.Errorf("producing to %s: %w", r.cfg.Topic, err)
	}
	return rec.Offset, nil
}

// produceAndApply writes records in order and waits until this instance
// has applied the last one.
func (r *Registry) produceAndApply(ctx context.Context, recs ...[2][]byte) error {
	last := int64(-1)
	for _, kv := range recs {
		off, err := r.produce(ctx, kv[0], kv[1])
		if err != nil {
			return err
		}
		last = off
	}
	if last < 0 {
		return nil
	}
	return r.waitApplied(ctx, last)
}

// read runs fn on the current state under the read lock.
func (r *Registry) read(fn func(st *state)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.st)
}

// beginWrite bounds a write and serialises it with the other writes of this
// instance. The returned func releases both.
func (r *Registry) beginWrite(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	r.writeMu.Lock()
	return ctx, func() {
		r.writeMu.Unlock()
		cancel()
	}
}

// registerRequest is the body of POST /subjects/{subject}/versions and of
// the lookup and compatibility endpoints.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	ID         int         `json:"id,omitempty"`      // only to ask for the id the schema already has
	Version    int         `json:"version,omitempty"` // ignored, as Confluent does outside IMPORT mode
	// Metadata and RuleSet are Confluent's data contracts, which this
	// registry does not keep: a request that sets them is refused rather
	// than stored without them.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	RuleSet  json.RawMessage `json:"ruleSet,omitempty"`
}

// candidate is a submitted schema, parsed against the current state.
type candidate struct {
	text      string
	refs      []Reference
	parsed    *side
	canonical string
}

// parseCandidate checks a submitted schema. Only Avro is served.
func parseCandidate(st *state, req registerRequest) (*candidate, error) {
	typ := req.SchemaType
	if typ == "" {
		typ = schemaTypeAvro
	}
	if typ != schemaTypeAvro {
		return nil, apiErr(errInvalidSchema, "Invalid schema: schema type %s is not supported; this registry serves AVRO schemas only", typ)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"metadata", req.Metadata}, {"ruleSet", req.RuleSet}} {
		if hasContent(f.raw) {
			return nil, apiErr(errInvalidSchema, "Invalid schema: this registry does not keep a schema's %s (Confluent's data contracts); send the schema without %q", f.name, f.name)
		}
	}
	if len(req.Schema) == 0 || len(compactText(req.Schema)) == 0 {
		return nil, apiErr(errInvalidSchema, "Invalid schema: the schema is empty")
	}
	parsed, err := parseAvro(req.Schema, req.References, st.lookup)
	if err != nil {
		return nil, apiErr(errInvalidSchema, "Invalid Avro schema: %v", err)
	}
	canonical, err := canonicalForm(parsed, req.References)
	if err != nil {
		return nil, apiErr(errInvalidSchema, "Invalid Avro schema: %v", err)
	}
	return &candidate{
		text:      compactText(req.Schema),
		refs:      req.References,
		parsed:    &side{schema: parsed, name: "the new schema", isNew: true},
		canonical: canonical,
	}, nil
}

// hasContent reports whether a JSON value holds anything: null, and
// objects and arrays of nothing but such values, are empty; a string (even
// ""), number or boolean anywhere is content. Undecodable JSON cannot
// reach here (the body decoded).
func hasContent(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return true
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch t := v.(type) {
		case nil:
			return false
		case map[string]any:
			for _, m := range t {
				if walk(m) {
					return true
				}
			}
			return false
		case []any:
			return slices.ContainsFunc(t, walk)
		default:
			return true
		}
	}
	return walk(v)
}

// versionProblems are the reasons a candidate cannot follow one version.
type versionProblems struct {
	version  *versionInfo
	problems []*incompatibility
}

// checkAgainst checks c against the given versions under level, in their
// order, and returns the versions it fails with their reasons (one per
// direction checked: the first place found). firstOnly stops at the first
// version that fails.
func checkAgainst(c *candidate, level string, against []*versionInfo, firstOnly bool) []versionProblems {
	var out []versionProblems
	for _, v := range against {
		vp := versionProblems{version: v}
		old := side{schema: v.schema.parsed, name: "version " + strconv.Itoa(v.version)}
		if old.schema == nil {
			vp.problems = append(vp.problems, &incompatibility{
				message: fmt.Sprintf("version %d is a %s schema this registry cannot check against", v.version, v.schema.schemaType)})
		} else {
			var errs []error
			if level != CompatForward && level != CompatForwardTransitive {
				errs = append(errs, checkReadable(*c.parsed, old))
			}
			if level != CompatBackward && level != CompatBackwardTransitive {
				errs = append(errs, checkReadable(old, *c.parsed))
			}
			for _, err := range errs {
				var inc *incompatibility
				if errors.As(err, &inc) {
					vp.problems = append(vp.problems, inc)
				}
			}
		}
		if len(vp.problems) > 0 {
			out = append(out, vp)
			if firstOnly {
				break
			}
		}
	}
	return out
}

// incompatibilities checks c against the given versions under level and
// returns one message per failing check, for a refused registration.
func incompatibilities(c *candidate, level string, against []*versionInfo) []string {
	var msgs []string
	for _, vp := range checkAgainst(c, level, against, false) {
		for _, p := range vp.problems {
			msgs = append(msgs, p.message)
		}
	}
	return msgs
}

// checkedVersions are the versions a registration is checked against under
// level: none, the latest, or all (transitive), soft-deleted ones excluded.
func checkedVersions(st *state, subject, level string) []*versionInfo {
	live := st.versionsOf(subject, false)
	switch {
	case level == CompatNone || len(live) == 0:
		return nil
	case level == CompatBackwardTransitive || level == CompatForwardTransitive || level == CompatFullTransitive:
		return live
	default:
		return live[len(live)-1:]
	}
}

// registration is what a writer proposes for a new schema version.
type registration struct {
	subject  string
	version  int
	id       int
	existing bool // already a live version of the subject: nothing to write
	value    []byte
}

func (r *Registry) planRegistration(st *state, subject string, req registerRequest) (*registration, error) {
	c, err := parseCandidate(st, req)
	if err != nil {
		return nil, err
	}
	if v := st.findInSubject(subject, c.canonical, false); v != nil {
		if req.ID > 0 && req.ID != v.schema.id {
			return nil, apiErr(errOperationNotPermitted, "Overwrite new schema with id %d is not permitted: the schema already has id %d under subject %q", req.ID, v.schema.id, subject)
		}
		return &registration{subject: subject, version: v.version, id: v.schema.id, existing: true}, nil
	}
	level := st.compatibility(subject, r.cfg.DefaultCompatibility)
	if msgs := incompatibilities(c, level, checkedVersions(st, subject, level)); len(msgs) > 0 {
		return nil, apiErr(errIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q: %s",
			subject, strings.Join(msgs, "; "))
	}
	id := st.maxID + 1
	if known := st.byCanonical[c.canonical]; known != nil {
		id = known.id
	}
	if req.ID > 0 && req.ID != id {
		return nil, apiErr(errOperationNotPermitted, "Overwrite new schema with id %d is not permitted: choosing ids needs IMPORT mode, which this registry does not support", req.ID)
	}
	reg := &registration{subject: subject, version: st.nextVersion(subject), id: id}
	val := schemaValue{Subject: subject, Version: reg.version, ID: id, References: c.refs, Schema: c.text}
	if known := st.byID[id]; known != nil {
		val.Schema = known.text // keep one text per id
	}
	reg.value, _ = json.Marshal(val) // cannot fail
	return reg, nil
}

// register adds a schema to subject, or finds it there, and returns its id.
// A proposal that lost a race against another instance is planned again.
func (r *Registry) register(ctx context.Context, subject string, req registerRequest) (int, error) {
	ctx, done := r.beginWrite(ctx)
	defer done()
	for attempt := 1; ; attempt++ {
		if err := r.catchUp(ctx); err != nil {
			return 0, storeErr("registering schema", err)
		}
		var reg *registration
		var err error
		r.read(func(st *state) { reg, err = r.planRegistration(st, subject, req) })
		if err != nil {
			return 0, err
		}
		if reg.existing {
			return reg.id, nil
		}
		if err := r.produceAndApply(ctx, [2][]byte{schemaKeyBytes(subject, reg.version), reg.value}); err != nil {
			return 0, storeErr("registering schema", err)
		}
		won := false
		r.read(func(st *state) {
			v := st.subjects[subject][reg.version]
			won = v != nil && v.schema.id == reg.id
		})
		if won {
			r.log.Info("registered schema", zap.String("subject", subject), zap.Int("version", reg.version), zap.Int("id", reg.id))
			return reg.id, nil
		}
		if attempt == maxWriteAttempts {
			return 0, storeErr("registering schema", fmt.Errorf("gave up after %d attempts: other registry instances kept taking the proposed id or version", attempt))
		}
		r.log.Debug("lost a registration race; planning again", zap.String("subject", subject),
			zap.Int("version", reg.version), zap.Int("id", reg.id), zap.Int("attempt", attempt))
		// Instances that keep proposing the same next version at the
		// same moment keep colliding; a random pause that grows with the
		// attempts breaks the tie (on a real broker, where a round trip
		// takes milliseconds, retrying at once lost eight times in a row).
		select {
		case <-ctx.Done():
			return 0, storeErr("registering schema", ctx.Err())
		case <-time.After(raceBackoff(attempt)):
		}
	}
}

// raceBackoff is the pause before planning a lost registration again:
// random, up to 5 ms per attempt so far, at most 200 ms.
func raceBackoff(attempt int) time.Duration {
	limit := min(time.Duration(attempt)*5*time.Millisecond, 200*time.Millisecond)
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

// deleteVersions soft-deletes (or, permanent, removes) the given versions
// of subject, chosen on current state by pick, and returns their numbers.
func (r *Registry) deleteVersions(ctx context.Context, subject string, permanent bool,
	pick func(st *state) ([]*versionInfo, error)) ([]int, error) {
	ctx, done := r.beginWrite(ctx)
	defer done()
	if err := r.catchUp(ctx); err != nil {
		return nil, storeErr("deleting schema versions", err)
	}
	var recs [][2][]byte
	var nums []int
	var err error
	r.read(func(st *state) {
		var vs []*versionInfo
		if vs, err = pick(st); err != nil {
			return
		}
		for _, v := range vs {
			if by := st.referencedBy(subject, v.version); len(by) > 0 {
				err = apiErr(errReferenceExists, "One or more references exist to version %d of subject %q (schema ids %v)", v.version, subject, by)
				return
			}
		}
		for _, v := range vs {
			nums = append(nums, v.version)
			key := schemaKeyBytes(subject, v.version)
			if permanent {
				recs = append(recs, [2][]byte{key, nil})
				continue
			}
			val, _ := json.Marshal(schemaValue{Subject: subject, Version: v.version, ID: v.schema.id,
				SchemaType: foreignType(v.schema.schemaType), References: v.schema.refs, Schema: v.schema.text, Deleted: true})
			recs = append(recs, [2][]byte{key, val})
		}
		if permanent && len(vs) == len(st.subjects[subject]) {
			if _, ok := st.subjectCompat[subject]; ok {
				recs = append(recs, [2][]byte{configKeyBytes(subject), nil}) // the subject is gone, and so is its config
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if err := r.produceAndApply(ctx, recs...); err != nil {
		return nil, storeErr("deleting schema versions", err)
	}
	r.log.Info("deleted schema versions", zap.String("subject", subject), zap.Ints("versions", nums), zap.Bool("permanent", permanent))
	return nums, nil
}

func foreignType(t string) string {
	if t == schemaTypeAvro {
		return ""
	}
	return t
}

// setCompatibility writes a compatibility level for subject ("" = global);
// level "" clears it.
func (r *Registry) setCompatibility(ctx context.Context, subject, level string) error {
	ctx, done := r.beginWrite(ctx)
	defer done()
	var val []byte
	if level != "" {
		val, _ = json.Marshal(configValue{CompatibilityLevel: level}) // cannot fail
	}
	if err := r.produceAndApply(ctx, [2][]byte{configKeyBytes(subject), val}); err != nil {
		return storeErr("setting compatibility", err)
	}
	r.log.Info("set compatibility", zap.String("subject", subject), zap.String("level", level))
	return nil
}
