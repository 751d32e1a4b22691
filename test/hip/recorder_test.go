package hip

import (
	"slices"
	"strings"
	"sync"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
)

// recorder keeps every distinct power and AMT status text each host showed, from Inventory's events, so a
// scenario can check the path a change took (e.g. the soft power off timing out), not only where it ended.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]seen
}

type seen struct {
	at           time.Time
	power, amt   string
	currentAMT   computev1.AmtState
	currentPower computev1.PowerState
}

func newRecorder() *recorder { return &recorder{seen: map[string][]seen{}} }

func (r *recorder) record(h *computev1.HostResource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := seen{at: time.Now(), power: h.GetPowerStatus(), amt: h.GetAmtStatus(), currentAMT: h.GetCurrentAmtState(),
		currentPower: h.GetCurrentPowerState()}
	list := r.seen[h.GetUuid()]
	if n := len(list); n > 0 && list[n-1].power == s.power && list[n-1].amt == s.amt &&
		list[n-1].currentAMT == s.currentAMT && list[n-1].currentPower == s.currentPower {
		return
	}
	r.seen[h.GetUuid()] = append(list, s)
}

// powerStatuses are the distinct power statuses the host showed since t0, in order.
func (r *recorder) powerStatuses(id string, t0 time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen[id] {
		if !s.at.Before(t0) && s.power != "" && !slices.Contains(out, s.power) {
			out = append(out, s.power)
		}
	}
	return out
}

// anyPrefix tells whether one of texts starts with prefix.
func anyPrefix(texts []string, prefix string) bool {
	return slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

// anyContains tells whether one of texts contains part.
func anyContains(texts []string, part string) bool {
	return slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, part) })
}
