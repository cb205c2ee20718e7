package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// newRunID names one --verify run: short, random, safe in an entity id and
// a CEL string.
func newRunID() string {
	b := make([]byte, 5)
	_, _ = cryptorand.Read(b)
	return "load" + hex.EncodeToString(b)
}

// loadVerifier is --verify: a webhook receiver on loopback, subscribed
// through the admin API to the events of this run's entities, that checks
// each delivery's signature and keeps what a report needs. It is safe for
// concurrent use: the load's workers call accept, the HTTP server calls
// ServeHTTP.
type loadVerifier struct {
	runID, prefix string
	url           string // the receiver's
	subID         string
	admin         *subsClient
	wh            *standardwebhooks.Webhook
	srv           *http.Server
	served        chan struct{}

	mu                sync.Mutex
	accepted          map[string]struct{} // event ids ingest answered 202 for
	events            map[string]struct{} // event ids delivered, the run's or derived
	deliveredAccepted int64               // |accepted ∩ events|
	hooks             map[string]struct{} // webhook-ids seen
	version           map[string]int64    // entity key → highest entity.version delivered
	requests          int64
	duplicates        int64
	reordered         int64
	badSignatures     int64
	reorderSamples    []string
	badSamples        []string
	e2e               *hdrhistogram.Histogram // event time → arrival, µs
	drained           time.Duration
}

func newLoadVerifier(runID, url string) *loadVerifier {
	return &loadVerifier{
		runID:    runID,
		prefix:   runID + "-",
		url:      url,
		served:   make(chan struct{}),
		accepted: map[string]struct{}{},
		events:   map[string]struct{}{},
		hooks:    map[string]struct{}{},
		version:  map[string]int64{},
		e2e:      hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3),
	}
}

// startLoadVerifier listens on loopback, subscribes the listener to the
// run's events and starts serving. The subscription exists when it
// returns; close deletes it.
func startLoadVerifier(ctx context.Context, admin *subsClient, runID string) (*loadVerifier, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the --verify receiver: %w", err)
	}
	v := newLoadVerifier(runID, "http://"+ln.Addr().String()+"/"+runID)
	v.admin = admin
	// Subscribe before serving: the listener queues any early connection,
	// and the signing secret is known before the first request is read.
	raw, err := admin.do(ctx, http.MethodPost, "/v1/subscriptions", map[string]any{
		"url":           v.url,
		"event_types":   []string{"*"},
		"filter":        fmt.Sprintf("entity.id.startsWith(%q)", v.prefix),
		"allow_private": true, // the receiver is on loopback
		"description":   "surge load --verify, run " + runID + "; deleted when the run ends",
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("creating the --verify subscription: %w", err)
	}
	var created struct{ ID, Secret string }
	if err := json.Unmarshal(raw, &created); err != nil || created.ID == "" {
		ln.Close()
		return nil, fmt.Errorf("creating the --verify subscription: the admin API answered %s", oneLine(string(raw), 200))
	}
	v.subID = created.ID
	if v.wh, err = standardwebhooks.NewWebhook(created.Secret); err != nil {
		ln.Close()
		return nil, errors.Join(fmt.Errorf("reading the subscription's secret: %w", err), v.deleteSub())
	}
	v.srv = &http.Server{Handler: v, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(v.served)
		_ = v.srv.Serve(ln)
	}()
	return v, nil
}

// ServeHTTP receives one webhook: a bad signature is refused with 401, as
// a receiver should (the dispatcher dead-letters it, so it shows as lost
// too); anything else is recorded before the 204, so the order of records
// is the order the dispatcher saw its deliveries acknowledged in.
func (v *loadVerifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	hookID := r.Header.Get("webhook-id")
	if err := v.wh.Verify(body, r.Header); err != nil {
		v.bad(hookID, "signature: "+err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b struct {
		ID     string    `json:"id"`
		Time   time.Time `json:"time"`
		Entity struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Version int64  `json:"version"`
		} `json:"entity"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ID == "" {
		v.bad(hookID, fmt.Sprintf("body is not a Surge webhook body: %v", err))
		http.Error(w, "not a Surge webhook body", http.StatusBadRequest)
		return
	}
	v.record(hookID, b.ID, b.Entity.Type+":"+b.Entity.ID, b.Entity.Version, b.Time, at)
	w.WriteHeader(http.StatusNoContent)
}

func (v *loadVerifier) bad(hookID, why string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.badSignatures++
	if len(v.badSamples) < 3 {
		v.badSamples = append(v.badSamples, hookID+": "+why)
	}
}

// record counts one verified delivery.
func (v *loadVerifier) record(hookID, eventID, entity string, version int64, eventTime, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.requests++
	if _, seen := v.hooks[hookID]; seen {
		v.duplicates++
		return
	}
	v.hooks[hookID] = struct{}{}
	if last, ok := v.version[entity]; ok && version <= last {
		v.reordered++
		if len(v.reorderSamples) < 5 {
			v.reorderSamples = append(v.reorderSamples, fmt.Sprintf("%s: version %d (event %s) after version %d", entity, version, eventID, last))
		}
	} else {
		v.version[entity] = version
	}
	if _, seen := v.events[eventID]; !seen {
		v.events[eventID] = struct{}{}
		if _, ok := v.accepted[eventID]; ok {
			v.deliveredAccepted++
		}
		_ = v.e2e.RecordValue(max(1, at.Sub(eventTime).Microseconds()))
	}
}

// accept notes event ids ingest answered 202 for. A delivery may arrive
// before its 202 was read, so both orders count.
func (v *loadVerifier) accept(ids []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		if _, ok := v.accepted[id]; ok {
			continue
		}
		v.accepted[id] = struct{}{}
		if _, ok := v.events[id]; ok {
			v.deliveredAccepted++
		}
	}
}

func (v *loadVerifier) deliveredCount() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deliveredAccepted
}

func (v *loadVerifier) pending() (delivered, accepted int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deliveredAccepted, int64(len(v.accepted))
}

// drain waits until every accepted event was delivered, timeout passed or
// ctx ended, printing progress once a second.
func (v *loadVerifier) drain(ctx context.Context, timeout time.Duration, progress io.Writer) {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	check := time.NewTicker(50 * time.Millisecond)
	defer check.Stop()
	prog := newProgress(progress, start, time.Second, time.Second)
	lastN := int64(0)
	for {
		delivered, accepted := v.pending()
		if delivered >= accepted {
			break
		}
		elapsed := prog.elapsed()
		if since, ok := prog.due(elapsed); ok {
			prog.println("drain %4.0fs  delivered %8d of %d  (%d/s), waiting up to %s",
				elapsed.Seconds(), delivered, accepted, int64(float64(delivered-lastN)/since.Seconds()), timeout)
			lastN = delivered
		}
		select {
		case <-check.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		break
	}
	v.drained = time.Since(start)
}

// close deletes the subscription and stops the receiver.
func (v *loadVerifier) close() error {
	err := v.deleteSub()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = v.srv.Shutdown(ctx)
	<-v.served
	return err
}

func (v *loadVerifier) deleteSub() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := v.admin.do(ctx, http.MethodDelete, subPath(v.subID), nil); err != nil {
		return fmt.Errorf("deleting the --verify subscription %s (delete it with `surge subs delete %s`): %w", v.subID, v.subID, err)
	}
	return nil
}

// verifyResult is what --verify found.
type verifyResult struct {
	runID, subID                               string
	accepted, delivered, lost, reordered, dups int64
	badSignatures, other, requests             int64
	lostSamples, reorderSamples, badSamples    []string
	e2e                                        *hdrhistogram.Histogram
	drained                                    time.Duration
}

func (v *loadVerifier) result() *verifyResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := &verifyResult{
		runID: v.runID, subID: v.subID,
		accepted:       int64(len(v.accepted)),
		delivered:      v.deliveredAccepted,
		reordered:      v.reordered,
		dups:           v.duplicates,
		badSignatures:  v.badSignatures,
		other:          int64(len(v.events)) - v.deliveredAccepted,
		requests:       v.requests,
		reorderSamples: slices.Clone(v.reorderSamples),
		badSamples:     slices.Clone(v.badSamples),
		e2e:            hdrhistogram.Import(v.e2e.Export()),
		drained:        v.drained,
	}
	r.lost = r.accepted - r.delivered
	for id := range v.accepted {
		if _, ok := v.events[id]; !ok {
			r.lostSamples = append(r.lostSamples, id)
		}
	}
	slices.Sort(r.lostSamples)
	r.lostSamples = r.lostSamples[:min(len(r.lostSamples), 5)]
	return r
}

// problems are the reasons the run fails.
func (r *verifyResult) problems() []error {
	var errs []error
	if r.lost > 0 {
		errs = append(errs, fmt.Errorf("%d of %d accepted events were not delivered within --drain-timeout", r.lost, r.accepted))
	}
	if r.reordered > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries arrived out of order for their entity", r.reordered))
	}
	if r.badSignatures > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries failed the signature check", r.badSignatures))
	}
	return errs
}

// print writes the report's lines to tw, which the caller flushes.
func (r *verifyResult) print(tw io.Writer) {
	fmt.Fprintf(tw, "verify\trun %s, subscription %s (deleted)\n", r.runID, r.subID)
	drain := fmt.Sprintf("all, %s after the load ended", r.drained.Round(time.Millisecond))
	if r.lost > 0 {
		drain = fmt.Sprintf("stopped waiting %s after the load ended", r.drained.Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "delivered\t%d of %d accepted\t(%s)\n", r.delivered, r.accepted, drain)
	fmt.Fprintf(tw, "lost\t%d\n", r.lost)
	for _, id := range r.lostSamples {
		fmt.Fprintf(tw, "  not delivered\t%s\n", id)
	}
	fmt.Fprintf(tw, "reordered\t%d\n", r.reordered)
	for _, s := range r.reorderSamples {
		fmt.Fprintf(tw, "  out of order\t%s\n", s)
	}
	fmt.Fprintf(tw, "duplicates\t%d\t(same webhook-id again, of %d requests)\n", r.dups, r.requests)
	fmt.Fprintf(tw, "bad signatures\t%d\n", r.badSignatures)
	for _, s := range r.badSamples {
		fmt.Fprintf(tw, "  refused\t%s\n", s)
	}
	fmt.Fprintf(tw, "derived events\t%d\t(of the run's entities, with no 202: enrich's, e.g. inventory.changed)\n", r.other)
	fmt.Fprintf(tw, "e2e latency ms\t%s\t(event time → webhook received)\n", percentilesMS(r.e2e))
}
