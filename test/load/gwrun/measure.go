package gwrun

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rssKB is VmRSS from /proc/self/status.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memSample is the process memory at one moment.
type memSample struct {
	rssKB             int64
	heapInuse, stacks uint64
	goroutines        int
}

// sample reads memory; settled first collects garbage and returns free pages
// to the OS, giving the steady-state footprint.
func sample(settled bool) memSample {
	if settled {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{rssKB: rssKB(), heapInuse: ms.HeapInuse, stacks: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// metricSum adds up every series of a metric family in the registry
// (optionally only those whose label `label` has value `value`, or, with a
// leading "!", does not).
func metricSum(g prometheus.Gatherer, name, label, value string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !labelMatches(m.GetLabel(), label, value) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func labelMatches[L interface {
	GetName() string
	GetValue() string
}](labels []L, name, value string) bool {
	neg := strings.HasPrefix(value, "!")
	value = strings.TrimPrefix(value, "!")
	for _, l := range labels {
		if l.GetName() == name {
			return (l.GetValue() == value) != neg
		}
	}
	return false
}

// breakdown formats a counter family by one label, e.g. "overloaded=3 timeout=1";
// "none" when every series is zero.
func breakdown(g prometheus.Gatherer, name, label string) string {
	mfs, err := g.Gather()
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				for _, l := range m.GetLabel() {
					if l.GetName() == label {
						parts = append(parts, fmt.Sprintf("%s=%.0f", l.GetValue(), v))
					}
				}
			}
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
