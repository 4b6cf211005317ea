package platform

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// ProgressLine renders how far a long task is: done of total, the
// percentage, the rate since began (counting from firstDone, what was done
// at the first reading) and the time left at that rate. With bar it is a
// line to redraw on a terminal, "label [#####.....] 50/100  50.0% 10/s ETA
// 5s", else one to print as it is, "label: 50/100  50.0% 10/s ETA 5s".
func ProgressLine(label string, done, total, firstDone uint64, began time.Time, bar bool) string {
	frac := 1.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	rate := 0.0
	if el := time.Since(began).Seconds(); el > 0 && done > firstDone {
		rate = float64(done-firstDone) / el
	}
	eta := "--"
	if rate > 0 && total >= done {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	text := fmt.Sprintf("%d/%d %5.1f%% %.0f/s ETA %s", done, total, 100*frac, rate, eta)
	if !bar {
		return label + ": " + text
	}
	const width = 30
	n := int(frac * width)
	return fmt.Sprintf("%s [%s%s] %s   ", label, strings.Repeat("#", n), strings.Repeat(".", width-n), text)
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
