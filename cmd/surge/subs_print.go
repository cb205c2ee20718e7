package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/surgehq/surge/pkg/backlog"
	"github.com/surgehq/surge/pkg/subscription"
)

// printSub prints one subscription: the API's JSON with --json, else a
// table for people, then extra (the secret of a create or a rotation).
func printSub(out io.Writer, o *subsOptions, raw []byte, extra func(io.Writer, subscription.View)) error {
	if o.JSON {
		_, err := out.Write(raw)
		return err
	}
	var v subscription.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	var withBacklog struct {
		Backlog *backlog.Summary `json:"backlog"` // GET only
	}
	if err := json.Unmarshal(raw, &withBacklog); err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	orDefault := func(zero bool, s, def string) string {
		if zero {
			return def
		}
		return s
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", v.ID)
	row("STATE", state(v))
	row("DESTINATION", destinationText(v.Destination))
	if v.URL != "" {
		row("URL", v.URL)
	}
	row("EVENT TYPES", strings.Join(v.EventTypes, ", "))
	row("FILTER", orDefault(v.Filter == "", oneLine(v.Filter, 200), "(none: every event of the types)"))
	names := make([]string, 0, len(v.Headers))
	for k := range v.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	row("HEADERS", orDefault(len(names) == 0, strings.Join(names, ", ")+" (values: --json)", "(none)"))
	row("TIMEOUT", orDefault(v.TimeoutMS == 0, (time.Duration(v.TimeoutMS)*time.Millisecond).String(), "default"))
	row("RATE LIMIT", orDefault(v.RateLimitPerS == 0, fmt.Sprintf("%g/s", v.RateLimitPerS), "unlimited"))
	row("MAX IN FLIGHT", orDefault(v.MaxInFlight == 0, fmt.Sprint(v.MaxInFlight), "default"))
	row("RETRY SCHEDULE", orDefault(len(v.RetrySchedule) == 0, strings.Join(v.RetrySchedule, ", "), "default"))
	row("AUTO-DISABLE", orDefault(v.AutoDisableAfterMS == 0, "after "+(time.Duration(v.AutoDisableAfterMS)*time.Millisecond).String()+" of failures only", "never"))
	row("ALLOW PRIVATE", yesNo(v.AllowPrivate))
	row("SIGNATURE", signatureText(v.SignatureScheme))
	if v.Auth != nil {
		row("AUTH", authText(v.Auth))
	}
	if v.Description != "" {
		row("DESCRIPTION", oneLine(v.Description, 200))
	}
	for i, s := range v.Secrets {
		label := ""
		if i == 0 {
			label = "SECRETS"
		}
		desc := s.Fingerprint + "  created " + s.CreatedAt.Format(time.RFC3339)
		if s.ExpiresAt != nil {
			desc += ", signs until " + s.ExpiresAt.Format(time.RFC3339)
		}
		row(label, desc)
		if s.PublicKey != "" {
			row("", "  public key "+s.PublicKey)
		}
	}
	row("CREATED", v.CreatedAt.Format(time.RFC3339))
	row("UPDATED", v.UpdatedAt.Format(time.RFC3339))
	if b := withBacklog.Backlog; b != nil {
		backlogRows(row, *b)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if extra != nil && (v.Secret != "" || v.PublicKey != "") {
		extra(out, v)
	}
	return nil
}

// backlogRows are what waits for the subscription in the dispatchers, as
// the admin API summed their fresh reports: "none", or the counts, the
// oldest's age and the rate, with each instance's share.
func backlogRows(row func(k, v string), b backlog.Summary) {
	if b.None() {
		row("BACKLOG", "none")
		return
	}
	row("BACKLOG", fmt.Sprintf("%d waiting: %d in memory, %d in the retry topic", b.Waiting(), b.InMemory, b.InRetryTopic))
	if b.OldestAgeSeconds != nil && b.Oldest != nil {
		row("OLDEST", backlog.AgeText(*b.OldestAgeSeconds)+" ("+b.Oldest.Format(time.RFC3339)+")")
	}
	row("DELIVERIES/S", fmt.Sprintf("%.1f", b.DeliveriesPerSecond))
	for i, in := range b.Instances {
		label := ""
		if i == 0 {
			label = "INSTANCES"
		}
		row(label, fmt.Sprintf("%s: %d in memory, %d in the retry topic, %.1f/s, reported %s", in.Instance, in.InMemory, in.InRetryTopic,
			in.DeliveriesPerSecond, in.ReportedAt.Format(time.RFC3339)))
	}
}

// signatureText names a signature scheme for people.
func signatureText(scheme string) string {
	switch scheme {
	case subscription.SchemeV1a:
		return "v1a (Ed25519; receivers verify with the public keys below)"
	case subscription.SchemeV1, "":
		return "v1 (HMAC-SHA256, shared secret)"
	}
	return scheme
}

func state(v subscription.View) string {
	switch {
	case !v.Enabled && v.DisabledReason != "":
		return "disabled (" + oneLine(v.DisabledReason, 60) + ")"
	case !v.Enabled:
		return "disabled"
	case v.Paused:
		return "paused"
	}
	return "active"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine keeps a table cell on one line and at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
