package embedded

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// kfake keeps each partition's log as segment files (<base>.dat, record
// batches as on the wire) and, beside each, an index file (<base>.idx) of
// one fixed-size entry per batch, in the same order: the batch's leader
// epoch and whether it was produced in a transaction. kfake writes the
// batch, then its entry, with two writes; a SIGKILL between them leaves
// the segment one batch ahead of its index. kfake does not notice: it
// reads entry i for batch i, so from that batch on every batch takes its
// neighbour's entry, and the next process appends its entries after the
// short index, keeping the shift for the segment's life. At the next
// unclean start kfake rebuilds the transaction state from those entries,
// and a transactional batch whose entry says "not in a transaction" is not
// counted in its aborted transaction: read_committed readers are served
// aborted records, and an open transaction whose last entry was cut is
// served as if committed (TestKfakeServesAnOpenTransactionWhoseIndexEntryWasCut
// keeps the reproduction).
//
// An entry is a function of its batch's header, so repairIndexes rewrites
// every index that differs from its segment before kfake opens the log.
// The layout below is kfake's (persist.go, persist version 1); the test
// TestIndexEntriesMatchKfakes fails if kfake changes it.
const (
	indexEntrySize    = 15
	indexVersion      = 1
	batchHeaderLength = 61 // a record batch's bytes before its records
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// indexEntry is what kfake writes for a batch: version, a checksum byte,
// the leader epoch, the partition's largest timestamp so far (kfake
// recomputes it at load) and the transaction flag.
func indexEntry(epoch int32, maxTimestamp int64, inTxn bool) [indexEntrySize]byte {
	var e [indexEntrySize]byte
	e[0] = indexVersion
	binary.LittleEndian.PutUint32(e[2:6], uint32(epoch))
	binary.LittleEndian.PutUint64(e[6:14], uint64(maxTimestamp))
	if inTxn {
		e[14] = 1
	}
	e[1] = byte(crc32.Checksum(e[2:], castagnoli))
	return e
}

// sameEntry reports whether two entries agree on what kfake uses: the
// epoch and the transaction flag (not the timestamp, which it recomputes).
func sameEntry(a, b []byte) bool {
	return a[0] == b[0] && a[1] == byte(crc32.Checksum(a[2:indexEntrySize], castagnoli)) &&
		string(a[2:6]) == string(b[2:6]) && a[14]&1 == b[14]&1
}

// segmentEntries reads the complete, intact batches of a segment, as
// kfake's load does (it drops a torn or corrupt tail), and returns the
// index entry of each. maxTS is the partition's largest timestamp before
// this segment, and is returned updated. It holds one batch in memory at
// a time.
func segmentEntries(seg io.Reader, maxTS int64) ([][indexEntrySize]byte, int64, error) {
	r := bufio.NewReaderSize(seg, 1<<20)
	var (
		out   [][indexEntrySize]byte
		batch []byte
	)
	for {
		head, err := r.Peek(12)
		if len(head) < 12 {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return out, maxTS, nil
			}
			return out, maxTS, err
		}
		length := int(int32(binary.BigEndian.Uint32(head[8:12])))
		if length < batchHeaderLength-12 || length > 1<<30 {
			return out, maxTS, nil
		}
		batch = slices.Grow(batch[:0], 12+length)[:12+length]
		if _, err := io.ReadFull(r, batch); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return out, maxTS, nil // a torn tail
			}
			return out, maxTS, err
		}
		if binary.BigEndian.Uint32(batch[17:21]) != crc32.Checksum(batch[21:], castagnoli) {
			return out, maxTS, nil
		}
		epoch := int32(binary.BigEndian.Uint32(batch[12:16]))
		attrs := binary.BigEndian.Uint16(batch[21:23])
		const transactional, control = 0x10, 0x20
		maxTS = max(maxTS, int64(binary.BigEndian.Uint64(batch[35:43])))
		out = append(out, indexEntry(epoch, maxTS, attrs&transactional != 0 && attrs&control == 0))
	}
}

// repairIndexes rewrites, in kfake's data directory dir, every segment
// index that does not match its segment, and names them.
func repairIndexes(dir string) ([]string, error) {
	parts, err := filepath.Glob(filepath.Join(dir, "partitions", "*"))
	if err != nil {
		return nil, err
	}
	var repaired []string
	for _, pdir := range parts {
		bases, err := segmentBases(pdir)
		if err != nil {
			return repaired, err
		}
		maxTS := int64(-1)
		for _, base := range bases {
			name := filepath.Join(pdir, strconv.FormatInt(base, 10))
			want, next, err := readSegmentEntries(name+".dat", maxTS)
			if err != nil {
				return repaired, err
			}
			maxTS = next
			have, err := os.ReadFile(name + ".idx")
			if err != nil && !os.IsNotExist(err) {
				return repaired, err
			}
			at := firstDifference(want, have)
			if at < 0 {
				continue
			}
			if err := writeIndex(name+".idx", want); err != nil {
				return repaired, err
			}
			repaired = append(repaired, fmt.Sprintf("%s/%d.idx: %d entries for %d batches, first wrong at batch %d",
				filepath.Base(pdir), base, len(have)/indexEntrySize, len(want), at))
		}
	}
	return repaired, nil
}

// readSegmentEntries is segmentEntries of the segment file path.
func readSegmentEntries(path string, maxTS int64) ([][indexEntrySize]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, maxTS, err
	}
	defer f.Close()
	entries, maxTS, err := segmentEntries(f, maxTS)
	if err != nil {
		return nil, maxTS, fmt.Errorf("reading %s: %w", path, err)
	}
	return entries, maxTS, nil
}

// segmentBases lists a partition directory's segments by base offset.
func segmentBases(pdir string) ([]int64, error) {
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if base, err := strconv.ParseInt(n, 10, 64); err == nil {
				bases = append(bases, base)
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// firstDifference is the first batch whose entry in have differs from
// want, or -1 when have is want.
func firstDifference(want [][indexEntrySize]byte, have []byte) int {
	for i, w := range want {
		if len(have) < (i+1)*indexEntrySize || !sameEntry(have[i*indexEntrySize:], w[:]) {
			return i
		}
	}
	if len(have) != len(want)*indexEntrySize {
		return len(want)
	}
	return -1
}

// writeIndex replaces path with entries, through a synced temporary file.
func writeIndex(path string, entries [][indexEntrySize]byte) error {
	buf := make([]byte, 0, len(entries)*indexEntrySize)
	for _, e := range entries {
		buf = append(buf, e[:]...)
	}
	tmp := path + ".surge-repair"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	return nil
}
