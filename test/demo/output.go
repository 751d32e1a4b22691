package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/test/hip/rig"
)

// output writes the story. On a terminal the live table is redrawn in place; otherwise (make demo piped to a
// file) it is printed again only when it changed, at most every plainEvery.
type output struct {
	w           io.Writer
	tty         bool
	width       int // terminal columns; table lines are clipped to it so that a redraw knows its height
	start       time.Time
	drawn       int // lines of the table on screen (tty)
	last        string
	lastAt      time.Time
	pending     string // a table held back, and its body
	pendingBody string
}

const plainEvery = 3 * time.Second

func newOutput(f *os.File) *output {
	o := &output{w: f, start: time.Now()}
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		o.tty, o.width = true, termWidth(f)
	}
	return o
}

// step starts a numbered part of the story.
func (o *output) step(n int, format string, a ...any) {
	o.flush()
	o.drawn = 0
	fmt.Fprintf(o.w, "\n[%6s] %d. %s\n", o.elapsed(), n, fmt.Sprintf(format, a...))
}

// line prints one indented line.
func (o *output) line(format string, a ...any) {
	o.flush()
	o.drawn = 0
	fmt.Fprintf(o.w, "           %s\n", fmt.Sprintf(format, a...))
}

func (o *output) elapsed() string { return time.Since(o.start).Round(100 * time.Millisecond).String() }

// table shows the hosts; final forces it out (the converged state is always printed).
func (o *output) table(title string, hosts []*computev1.HostResource, names map[string]string, final bool) {
	text := renderTable(title, hosts, names)
	body := text[strings.IndexByte(text, '\n')+1:] // without the clock in the title line
	switch {
	case o.tty:
		if o.drawn > 0 {
			fmt.Fprintf(o.w, "\x1b[%dA\x1b[J", o.drawn)
		}
		fmt.Fprint(o.w, clipLines(text, o.width-1))
		o.drawn = strings.Count(text, "\n")
	case body == o.last:
	case final || time.Since(o.lastAt) >= plainEvery:
		fmt.Fprint(o.w, text)
		o.last, o.lastAt, o.pending, o.pendingBody = body, time.Now(), "", ""
	default:
		o.pending, o.pendingBody = text, body
	}
}

// flush prints a table that changed but was held back (plain output), so the last state is never lost.
func (o *output) flush() {
	if o.pending != "" && o.pendingBody != o.last {
		fmt.Fprint(o.w, o.pending)
		o.last = o.pendingBody
	}
	o.pending, o.pendingBody = "", ""
}

// renderTable lays out one row per host, sorted by name.
func renderTable(title string, hosts []*computev1.HostResource, names map[string]string) string {
	hs := slices.Clone(hosts)
	slices.SortFunc(hs, func(a, b *computev1.HostResource) int { return strings.Compare(names[a.GetUuid()], names[b.GetUuid()]) })
	var b strings.Builder
	fmt.Fprintf(&b, "           -- %s (%s) --\n", title, time.Now().Format(time.TimeOnly))
	fmt.Fprintf(&b, "           %-8s %-9s %-11s %-11s %-44s %-12s %s\n",
		"host", "uuid", "desired", "current", "power status", "AMT", "AMT status")
	for _, h := range hs {
		fmt.Fprintf(&b, "           %-8s %-9s %-11s %-11s %-44s %-12s %s\n",
			names[h.GetUuid()], h.GetUuid()[:8], rig.Short(h.GetDesiredPowerState()), rig.Short(h.GetCurrentPowerState()),
			clip(statusCell(h.GetPowerStatusIndicator().String(), h.GetPowerStatus()), 44),
			rig.Short(h.GetCurrentAmtState()), clip(statusCell(h.GetAmtStatusIndicator().String(), h.GetAmtStatus()), 48))
	}
	return b.String()
}

// statusCell prefixes a status with a mark for its indicator: "…" in progress, "!" error.
func statusCell(indicator, text string) string {
	if text == "" {
		return "-"
	}
	switch indicator {
	case "STATUS_INDICATION_IN_PROGRESS":
		return "… " + text
	case "STATUS_INDICATION_ERROR":
		return "! " + text
	}
	return text
}

// clipLines clips every line of text to n runes (n < 1: unchanged).
func clipLines(text string, n int) string {
	if n < 1 {
		return text
	}
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		body := strings.TrimSuffix(l, "\n")
		if utf8.RuneCountInString(body) > n {
			lines[i] = clip(body, n) + l[len(body):]
		}
	}
	return strings.Join(lines, "")
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
