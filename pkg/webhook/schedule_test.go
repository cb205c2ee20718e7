package webhook_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/webhook"
)

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    webhook.Schedule
		wantErr string
	}{
		{name: "nil is the default", in: nil, want: webhook.DefaultSchedule},
		{name: "empty is the default", in: []string{}, want: webhook.DefaultSchedule},
		{name: "durations", in: []string{"5s", "2m", "1h30m"}, want: webhook.Schedule{5 * time.Second, 2 * time.Minute, 90 * time.Minute}},
		{name: "not a duration", in: []string{"5s", "soon"}, wantErr: `retry_schedule[1]: "soon" is not a Go duration`},
		{name: "no unit", in: []string{"5"}, wantErr: `retry_schedule[0]`},
		{name: "too short", in: []string{"10ms"}, wantErr: `retry_schedule[0]: "10ms" must be from 1s to 72h0m0s`},
		{name: "negative", in: []string{"-5s"}, wantErr: `retry_schedule[0]`},
		{name: "too long", in: []string{"1s", "73h"}, wantErr: `retry_schedule[1]`},
		{name: "too many", in: slices.Repeat([]string{"1s"}, 21), wantErr: "at most 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.ParseSchedule(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseSchedule = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseScheduleDefaultIsACopy(t *testing.T) {
	s, _ := webhook.ParseSchedule(nil)
	s[0] = time.Hour
	if webhook.DefaultSchedule[0] != 5*time.Second {
		t.Fatal("changing a parsed default schedule changed DefaultSchedule")
	}
}

func TestDefaultSchedule(t *testing.T) {
	want := []string{"5s", "30s", "2m0s", "10m0s", "30m0s", "1h0m0s", "3h0m0s", "6h0m0s", "12h0m0s", "24h0m0s"}
	var got []string
	for _, d := range webhook.DefaultSchedule {
		got = append(got, d.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("DefaultSchedule = %v, want %v", got, want)
	}
}

func TestScheduleNextJitterBounds(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	s := webhook.DefaultSchedule
	for attempts := 1; attempts <= len(s); attempts++ {
		base := s[attempts-1]
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		minSeen, maxSeen := time.Duration(1<<62), time.Duration(0)
		for range 2000 {
			w, ok := s.Next(attempts, rnd)
			if !ok {
				t.Fatalf("Next(%d) exhausted a %d-wait schedule", attempts, len(s))
			}
			if w < lo || w > hi {
				t.Fatalf("Next(%d) = %s, outside [%s, %s]", attempts, w, lo, hi)
			}
			minSeen, maxSeen = min(minSeen, w), max(maxSeen, w)
		}
		// The jitter spreads: over 2000 draws both ends are approached.
		if minSeen > time.Duration(float64(base)*0.82) || maxSeen < time.Duration(float64(base)*1.18) {
			t.Errorf("Next(%d) drew only [%s, %s] of [%s, %s]", attempts, minSeen, maxSeen, lo, hi)
		}
	}
}

func TestScheduleNextDeterministicWithASeed(t *testing.T) {
	s := webhook.Schedule{time.Minute, time.Hour}
	a, b := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
	for i := range 10 {
		wa, _ := s.Next(1+i%2, a)
		wb, _ := s.Next(1+i%2, b)
		if wa != wb {
			t.Fatalf("draw %d: %s != %s with the same seed", i, wa, wb)
		}
	}
	if w, ok := s.Next(1, nil); !ok || w < 48*time.Second || w > 72*time.Second {
		t.Errorf("Next(1, nil) = %s, %v", w, ok)
	}
}

func TestScheduleNextExhaustion(t *testing.T) {
	s := webhook.Schedule{time.Second, 2 * time.Second}
	tests := []struct {
		attempts int
		base     time.Duration
		ok       bool
	}{
		{-1, time.Second, true}, // less than one attempt counts as one
		{0, time.Second, true},
		{1, time.Second, true},
		{2, 2 * time.Second, true},
		{3, 0, false},
		{100, 0, false},
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, tt := range tests {
		w, ok := s.Next(tt.attempts, rnd)
		if ok != tt.ok {
			t.Errorf("Next(%d) ok = %v, want %v", tt.attempts, ok, tt.ok)
		}
		if !ok && w != 0 {
			t.Errorf("Next(%d) = %s on exhaustion, want 0", tt.attempts, w)
		}
		if ok && (w < tt.base*8/10 || w > tt.base*12/10) {
			t.Errorf("Next(%d) = %s, want %s ±20%%", tt.attempts, w, tt.base)
		}
	}
	if _, ok := (webhook.Schedule{}).Next(1, rnd); ok {
		t.Error("an empty schedule gave a retry")
	}
}

func TestNextWait(t *testing.T) {
	s := webhook.Schedule{10 * time.Second, time.Minute}
	rnd := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name       string
		attempts   int
		retryAfter time.Duration
		lo, hi     time.Duration
		ok         bool
	}{
		{"no Retry-After: the schedule", 1, 0, 8 * time.Second, 12 * time.Second, true},
		{"a shorter Retry-After loses", 1, 2 * time.Second, 8 * time.Second, 12 * time.Second, true},
		{"a longer Retry-After wins", 1, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute, true},
		{"a longer Retry-After wins later too", 2, time.Hour, time.Hour, time.Hour, true},
		{"exhausted stays exhausted", 3, time.Minute, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := webhook.NextWait(s, tt.attempts, tt.retryAfter, rnd)
			if ok != tt.ok || w < tt.lo || w > tt.hi {
				t.Errorf("NextWait = %s, %v; want [%s, %s], %v", w, ok, tt.lo, tt.hi, tt.ok)
			}
		})
	}
}
