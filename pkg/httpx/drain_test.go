package httpx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testLimit = 1 << 20

// drainServer serves, through DrainUnread and Serve, /v1/read (reads up
// to testLimit with ReadBody, 413 past it, 200 {"n":...} otherwise) and
// /v1/early (401 without reading the body).
func drainServer(t *testing.T, d Drain) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/read", func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadBody(w, r, testLimit)
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]int{"n": len(body)})
	})
	mux.HandleFunc("POST /v1/early", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, Errorf(http.StatusUnauthorized, CodeUnauthorized, "no token"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, DrainUnread(mux, d)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// sent is what a client that writes its whole request before reading
// saw: the write error, or the answer and what followed it.
type sent struct {
	writeErr error
	status   int
	close    bool   // the answer said "Connection: close"
	code     string // error.code of a JSON error body
	next     error  // reading past the answer: io.EOF when the server closed cleanly
}

// failSafe bounds every exchange, so a hang fails the test instead of
// blocking it; it is far above any bound the tests set.
const failSafe = 30 * time.Second

// sendFirst writes head and then all of body (chunked when chunked is
// set, else with a Content-Length), and only then reads the answer, like
// Python's urllib.
func sendFirst(t *testing.T, addr, path string, size int, chunked bool, extra string) sent {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(failSafe))
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s", path, addr, extra)
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", size)
	}
	w := bufio.NewWriterSize(c, 64<<10)
	_, _ = w.WriteString(head.String())
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for left := size; left > 0 && err == nil; left -= len(chunk) {
		p := chunk[:min(left, len(chunk))]
		if chunked {
			_, _ = fmt.Fprintf(w, "%x\r\n", len(p))
		}
		_, err = w.Write(p)
		if chunked && err == nil {
			_, err = w.WriteString("\r\n")
		}
	}
	if chunked && err == nil {
		_, err = w.WriteString("0\r\n\r\n")
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		if isTimeout(err) {
			t.Fatalf("writing %d bytes hung for %s", size, failSafe)
		}
		return sent{writeErr: err}
	}
	return readAnswer(t, c, bufio.NewReader(c))
}

func readAnswer(t *testing.T, c net.Conn, br *bufio.Reader) sent {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if isTimeout(err) {
			t.Fatalf("no answer within %s", failSafe)
		}
		return sent{writeErr: err}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal(body, &e)
	s := sent{status: resp.StatusCode, close: resp.Close, code: e.Error.Code}
	_, s.next = br.ReadByte()
	if isTimeout(s.next) {
		t.Fatalf("the connection stayed open %s after the answer", failSafe)
	}
	return s
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// isReset is what a client sees when the server closed with its body
// unread.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestDrainAnswersClientsThatSendFirst(t *testing.T) {
	addr := drainServer(t, Drain{})
	for _, tt := range []struct {
		name    string
		path    string
		size    int
		chunked bool
		status  int
		code    string
	}{
		{"413 by Content-Length, 1.1 MiB", "/v1/read", testLimit + testLimit/10, false, 413, CodeTooLarge},
		{"413 by Content-Length, 32 MiB", "/v1/read", 32 << 20, false, 413, CodeTooLarge},
		{"413 while reading, chunked 4 MiB", "/v1/read", 4 << 20, true, 413, CodeTooLarge},
		{"401 before reading, 4 MiB", "/v1/early", 4 << 20, false, 401, CodeUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 {
				got := sendFirst(t, addr, tt.path, tt.size, tt.chunked, "")
				if got.writeErr != nil {
					t.Fatalf("the client could not finish its request: %v", got.writeErr)
				}
				if got.status != tt.status || got.code != tt.code {
					t.Fatalf("got %d %q, want %d %q", got.status, got.code, tt.status, tt.code)
				}
				if !got.close {
					t.Error("the answer does not say Connection: close")
				}
				// Everything was read, so the close is a clean FIN, not a reset.
				if got.next != io.EOF {
					t.Fatalf("after the answer: %v, want a clean close (EOF)", got.next)
				}
			}
		})
	}
}

func TestDrainLeavesReadBodiesAlone(t *testing.T) {
	addr := drainServer(t, Drain{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(failSafe))
	br := bufio.NewReader(c)
	// Two requests on one connection: a body that was read keeps it alive.
	for i := range 2 {
		body := `{"i":` + fmt.Sprint(i) + `}`
		fmt.Fprintf(c, "POST /v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Close || !strings.Contains(string(b), fmt.Sprintf(`"n":%d`, len(body))) {
			t.Fatalf("request %d: %d close=%v %s", i, resp.StatusCode, resp.Close, b)
		}
	}
}

func TestDrainBounds(t *testing.T) {
	t.Run("Content-Length past the bound closes at once", func(t *testing.T) {
		addr := drainServer(t, Drain{MaxBytes: 2 << 20})
		got := sendFirst(t, addr, "/v1/read", 64<<20, false, "")
		if !isReset(got.writeErr) {
			t.Fatalf("got %+v, want the connection reset while writing", got)
		}
	})
	t.Run("chunked past the bound closes after the bound", func(t *testing.T) {
		addr := drainServer(t, Drain{MaxBytes: 2 << 20})
		got := sendFirst(t, addr, "/v1/read", 64<<20, true, "")
		if !isReset(got.writeErr) {
			t.Fatalf("got %+v, want the connection reset while writing", got)
		}
	})
	t.Run("a stalled client is cut off after the time bound", func(t *testing.T) {
		const maxTime = 300 * time.Millisecond
		addr := drainServer(t, Drain{MaxTime: maxTime})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(failSafe))
		// 4 MiB announced, 1 KiB sent: the server answers 413 at once and
		// waits for the rest only as long as the bound allows.
		start := time.Now() // before the server can have started its clock
		fmt.Fprintf(c, "POST /v1/read HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 4<<20, strings.Repeat("x", 1024))
		got := readAnswer(t, c, bufio.NewReader(c))
		if got.status != 413 || got.code != CodeTooLarge {
			t.Fatalf("got %+v, want 413 too_large", got)
		}
		if got.next == nil {
			t.Fatal("data after the answer")
		}
		if waited := time.Since(start); waited < maxTime {
			t.Fatalf("closed after %s, before the %s bound", waited, maxTime)
		}
	})
	t.Run("Expect: 100-continue gets the answer and no go-ahead", func(t *testing.T) {
		addr := drainServer(t, Drain{})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(failSafe))
		fmt.Fprintf(c, "POST /v1/read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", 4<<20)
		got := readAnswer(t, c, bufio.NewReader(c))
		if got.status != 413 || got.code != CodeTooLarge {
			t.Fatalf("got %+v, want 413 too_large without 100 Continue", got)
		}
		if got.next == nil {
			t.Fatal("data after the answer")
		}
	})
}

func TestDrainValidate(t *testing.T) {
	for _, tt := range []struct {
		d       Drain
		wantErr string
	}{
		{Drain{}, ""},
		{Drain{MaxBytes: 1, MaxTime: time.Second}, ""},
		{Drain{MaxBytes: -1}, "SURGE_DRAIN_BODY_BYTES"},
		{Drain{MaxTime: time.Hour}, "SURGE_DRAIN_BODY_TIMEOUT"},
	} {
		err := tt.d.Validate()
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v: %v, want %q", tt.d, err, tt.wantErr)
		}
	}
}
