package bridge

import (
	"strings"
	"testing"
	"time"
)

// TestCheckChange: verify's size check, which encodes a change only when
// its largest possible body would not fit, says what the bridge's encoding
// says, on both sides of the limit, for plain text and for text JSON
// escapes six times over.
func TestCheckChange(t *testing.T) {
	const maxPayload = 4096
	now := time.Now()
	for _, unit := range []string{"a", "\x01", "é"} {
		for n := 1; n < 4000/len(unit); n += 7 {
			fields := map[string]string{"v": strings.Repeat(unit, n)}
			_, _, encErr := encodeChange("p:1", "upsert", fields, now, maxPayload)
			if chkErr := checkChange("p:1", fields, now, maxPayload); (chkErr == nil) != (encErr == nil) {
				t.Fatalf("%d × %q: checkChange %v, encodeChange %v", n, unit, chkErr, encErr)
			}
		}
	}
	if err := checkChange("p:", map[string]string{"v": "x"}, now, maxPayload); err == nil {
		t.Fatal("a key without an id passed")
	}
	if err := checkChange("p:1", map[string]string{"v": "\xff"}, now, maxPayload); err == nil {
		t.Fatal("invalid UTF-8 passed")
	}
}
