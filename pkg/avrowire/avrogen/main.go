// Command avrogen writes the Go form of Surge's Avro records from
// schemas/*.avsc: for every record of a binding (bindings.go), its Go
// struct, its conversion to and from goavro's native form, and its fast
// binary encoder and decoder, into <package dir>/avro_gen.go. The .avsc
// files are the only hand-written description of a record; what the
// generator writes is checked in, and a test (pkg/avrowire) fails when it
// is stale.
//
// Run it through go generate (see pkg/avrowire/generate.go):
//
//	go generate ./pkg/avrowire/
//
// With -check it writes nothing and fails when a file would change.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	check := flag.Bool("check", false, "write nothing; fail when a generated file is stale")
	flag.Parse()
	stale := 0
	for _, b := range bindings {
		files, err := generate(b, filepath.Join(*root, "schemas"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "avrogen: %s: %v\n", b.Package, err)
			os.Exit(1)
		}
		for name, src := range files {
			out := filepath.Join(*root, b.Dir, name)
			old, _ := os.ReadFile(out)
			if bytes.Equal(old, src) {
				continue
			}
			if *check {
				fmt.Fprintf(os.Stderr, "avrogen: %s is stale: run go generate ./pkg/avrowire/\n", out)
				stale++
				continue
			}
			if err := os.WriteFile(out, src, 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "avrogen: %v\n", err)
				os.Exit(1)
			}
		}
	}
	if stale > 0 {
		os.Exit(1)
	}
}

// generate returns the formatted files of b, by name: avro_gen.go and
// avro_gen_test.go.
func generate(b binding, schemaDir string) (map[string][]byte, error) {
	g := newGen(b)
	for _, name := range b.Schemas {
		rec, err := readSchema(schemaDir, name)
		if err != nil {
			return nil, err
		}
		if err := g.check(rec, false); err != nil {
			return nil, fmt.Errorf("%s.avsc: %w", name, err)
		}
		g.top(name, rec)
	}
	files := map[string][]byte{}
	for name, src := range map[string][]byte{"avro_gen.go": g.file(), "avro_gen_test.go": g.testFile()} {
		out, err := format.Source(src)
		if err != nil {
			return nil, fmt.Errorf("formatting %s: %w\n%s", name, err, src)
		}
		files[name] = out
	}
	return files, nil
}
