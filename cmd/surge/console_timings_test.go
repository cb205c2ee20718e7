package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// browserTimings runs tests/console/timings.mjs (headless Chromium,
// playwright-core from tests/console/node_modules) against the console at
// admin when SURGE_CONSOLE_BROWSER is set (make bench-console sets it), and
// reports each page's median server and load time as the browser measured
// them. Without it the benchmark reports the server side only.
func browserTimings(b *testing.B, admin, token string, pages []struct{ name, path string }) {
	if os.Getenv("SURGE_CONSOLE_BROWSER") == "" {
		b.Log("browser timings skipped: set SURGE_CONSOLE_BROWSER=1 (make bench-console)")
		return
	}
	script, err := filepath.Abs("../../tests/console/timings.mjs")
	if err != nil {
		b.Fatal(err)
	}
	list := make([]string, len(pages))
	for i, p := range pages {
		list[i] = p.name + "=" + p.path
	}
	cmd := exec.Command("node", script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "SURGE_CONSOLE_ADMIN_URL="+admin, "SURGE_CONSOLE_TOKEN="+token,
		"SURGE_CONSOLE_PAGES="+strings.Join(list, ","))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("node timings.mjs: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var t struct {
			Page      string
			ServerMS  float64 `json:"server_ms"`
			LoadMS    float64 `json:"load_ms"`
			LoadMaxMS float64 `json:"load_max_ms"`
		}
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			b.Fatalf("timings.mjs printed %q: %v", sc.Text(), err)
		}
		b.ReportMetric(t.ServerMS, t.Page+"_browser_server_ms")
		b.ReportMetric(t.LoadMS, t.Page+"_browser_load_ms")
		b.ReportMetric(t.LoadMaxMS, t.Page+"_browser_load_max_ms")
	}
}
