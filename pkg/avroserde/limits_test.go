package avroserde

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// A corrupt value declaring a billion array items is refused at once
// instead of making goavro allocate for them.
func TestHugeDeclaredCountsAreRefused(t *testing.T) {
	c, err := goavro.NewCodec(`{"type":"array","items":"string"}`)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(1 << 30)
	b := binary.AppendUvarint(nil, uint64(n<<1)^uint64(n>>63)) // zig-zag block count
	if _, _, err := c.NativeFromBinary(b); err == nil || !strings.Contains(err.Error(), "MaxBlockCount") {
		t.Fatalf("decoding a 2^30-item block: %v", err)
	}
}
