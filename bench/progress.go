package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// IsTerminal reports whether w is a terminal, where a progress line that
// redraws itself is welcome; in a file or a pipe it would be noise. It
// avoids golang.org/x/term, which the module does not otherwise need: a
// character device is what a terminal looks like to stat.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ProgressBar draws Progress on one terminal line, redrawn in place.
type ProgressBar struct {
	W     io.Writer
	Width int // of the bar itself; 0 means 30
}

// Update draws p; on the final update it erases the line, so the summary
// that follows starts on a clean line.
func (b *ProgressBar) Update(p Progress) {
	if p.Final {
		fmt.Fprint(b.W, "\r\x1b[K")
		return
	}
	fmt.Fprint(b.W, "\r"+FormatProgress(p, b.Width)+"\x1b[K")
}

// FormatProgress renders p as one line, without control characters:
//
//	[##########--------------------]  33%  3.3s  9,120 req  2,771 req/s  0 errors
func FormatProgress(p Progress, width int) string {
	if width <= 0 {
		width = 30
	}
	filled := int(p.Done*float64(width) + 0.5)
	filled = min(max(filled, 0), width)
	// Fixed-point seconds keep the line from jumping about as it redraws
	// (a Duration prints 1s, then 1.1s).
	return fmt.Sprintf("[%s%s] %3.0f%%  %.1fs  %s req  %s req/s  %s errors",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		p.Done*100, p.Elapsed.Seconds(),
		groupThousands(float64(p.Requests)), groupThousands(p.RPS), groupThousands(float64(p.Errors)))
}

// groupThousands formats a non-negative number rounded to an integer with
// commas, which a reader takes in at a glance where 1234567 needs counting.
func groupThousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
