package host

import (
	"fmt"
	"slices"
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// behaviour is how the OS and AMT respond in a simulated run.
type behaviour int

const (
	osOK       behaviour = iota // the OS carries out graceful requests within 2s
	osHung                      // AMT accepts graceful requests, the OS never acts
	noAgent                     // AMT refuses graceful requests (no in-band agent)
	amtRefuses                  // AMT refuses every request
	answerLost                  // the first request's answer is lost, but AMT acted on it
	lostNoAct                   // the first request's answer is lost, and AMT did not act
)

var behaviourNames = []string{"os-ok", "os-hung", "no-agent", "amt-refuses", "answer-lost", "lost-no-act"}

// simDevice models the host behind AMT, after amtsim: graceful actions are handed to the OS.
type simDevice struct {
	b       behaviour
	state   amt.PowerState
	osUp    bool
	due     time.Time
	effect  func()
	lost    bool
	sent    []amt.PowerState
	hardCnt int
}

func (d *simDevice) tick(now time.Time) {
	if d.effect != nil && !now.Before(d.due) {
		d.effect()
		d.effect = nil
	}
}

func (d *simDevice) available(v amt.PowerState) bool {
	switch d.state {
	case amt.PowerOn:
		return true
	case amt.SleepDeep:
		return v == amt.PowerOn || v == amt.PowerOffSoft || v == amt.PowerCycleOffSoft
	}
	return v == amt.PowerOn
}

func (d *simDevice) request(v amt.PowerState, hard bool, now time.Time) Outcome {
	d.sent = append(d.sent, v)
	if hard {
		d.hardCnt++
	}
	graceful := v == amt.PowerOffSoftGraceful || v == amt.MasterBusResetGraceful || v == amt.SleepDeep || v == amt.Hibernate
	refused := Outcome{Kind: Refused, Reason: "NOT_READY"}
	if d.b == amtRefuses || d.b == noAgent && graceful || !d.available(v) {
		return refused
	}
	firstLost := (d.b == answerLost || d.b == lostNoAct) && !d.lost
	d.lost = d.lost || firstLost
	if firstLost && d.b == lostNoAct {
		return Outcome{Kind: Uncertain, Reason: "timeout"}
	}
	switch v {
	case amt.PowerOn, amt.PowerCycleOffSoft, amt.MasterBusReset:
		d.state, d.osUp = amt.PowerOn, true
	case amt.PowerOffSoft:
		d.state, d.osUp = amt.PowerOffSoft, false
	default: // graceful: the OS acts after 2s, if it runs and is not hung
		if d.osUp && d.b != osHung {
			target := map[amt.PowerState]amt.PowerState{amt.PowerOffSoftGraceful: amt.PowerOffSoft,
				amt.MasterBusResetGraceful: amt.PowerOn, amt.SleepDeep: amt.SleepDeep, amt.Hibernate: amt.Hibernate}[v]
			d.due, d.effect = now.Add(2*time.Second), func() { d.state = target }
		}
	}
	if firstLost {
		return Outcome{Kind: Uncertain, Reason: "timeout"}
	}
	return Outcome{Kind: Accepted}
}

// simRun drives Decide/Settle like the reconciler does until nothing more is due.
type simRun struct {
	t        *testing.T
	host     *computev1.HostResource
	dev      *simDevice
	power    *store.JournalEntry
	now      time.Time
	synced   bool
	writes   int
	crash    crashPoint
	requests int
}

func (r *simRun) input() Input {
	f := connSynced
	f.PowerSynced = r.synced
	return Input{Now: r.now, Params: testParams, Host: proto.Clone(r.host).(*computev1.HostResource), Device: f, Power: r.power}
}

func (r *simRun) applyJournal(ops []JournalOp) {
	for _, op := range ops {
		require.Equal(r.t, store.OpPower, op.Entry.Kind)
		if op.Delete {
			r.power = nil
			continue
		}
		e := op.Entry
		r.power = &e
	}
}

// step runs one reconcile and reports whether more is due.
func (r *simRun) step() bool {
	r.dev.tick(r.now)
	in := r.input()
	st := Decide(in)
	if st.Action == ActReadPower {
		in.Reading, r.synced = read(r.dev.state), true
		st = Decide(in)
		require.NotEqual(r.t, ActReadPower, st.Action, "read twice")
	}
	if p := st.Power; p != nil {
		r.host.CurrentPowerState, r.host.PowerStatus, r.host.PowerStatusIndicator = p.Current, p.Status, p.Indicator
		r.writes++
	}
	if st.Action == ActSendPower {
		// The intent is journaled in the same step, before the request, and a hard one is marked sent.
		i := slices.IndexFunc(st.Journal, func(op JournalOp) bool { return !op.Delete && op.Entry.Kind == store.OpPower })
		require.GreaterOrEqual(r.t, i, 0, "no journal intent before action %d", st.PowerValue)
		require.Equal(r.t, st.Hard, st.Journal[i].Entry.HardActionSent, "hard_action_sent before sending")
	}
	r.applyJournal(st.Journal)
	if st.Action == ActSendPower {
		r.requests++
		if r.requests == r.crash.request {
			// The process dies around the request: the journal holds the intent, memory and timers are lost,
			// and the restarted process reconciles the host (journal sweep, resync).
			if r.crash.afterSend {
				r.dev.request(st.PowerValue, st.Hard, r.now)
			}
			r.synced = false
			r.now = r.now.Add(time.Second)
			return true
		}
		out := r.dev.request(st.PowerValue, st.Hard, r.now)
		st = Settle(in, st, out)
		r.applyJournal(st.Journal)
	}
	switch {
	case st.Requeue:
	case st.Retry != nil:
		r.now = r.now.Add(time.Second)
	case st.After > 0:
		r.now = r.now.Add(st.After)
	default:
		return false
	}
	return true
}

// defaultRetries is Params.LevelRetries by default.
const defaultRetries = 5

type simOutcome struct {
	current computev1.PowerState
	ind     statusv1.StatusIndication
	writes  int
	hard    int
}

// crashPoint restarts the process at the n-th device request (0: never), before or after it reaches AMT.
type crashPoint struct {
	request   int
	afterSend bool
}

func simulate(t *testing.T, desired computev1.PowerState, pol computev1.PowerCommandPolicy, b behaviour, initial amt.PowerState, crash crashPoint) simOutcome {
	t.Helper()
	h := provisionedHost(desired, pol)
	if initial != amt.PowerOn {
		h.CurrentPowerState, h.PowerStatus = psOff, "Powered off"
	}
	r := &simRun{t: t, host: h, dev: &simDevice{b: b, state: initial, osUp: initial == amt.PowerOn}, now: t0,
		synced: true, crash: crash}
	n := 0
	for r.step() {
		n++
		require.Less(t, n, 200, "no end: journal %+v", r.power)
	}
	require.NotEqual(t, inProgress, r.host.PowerStatusIndicator, "left in progress: %q", r.host.PowerStatus)
	// Edges are never repeated; a level is sent again only by a retry, each retry after a fresh read of AMT.
	retries := defaultRetries
	if isAction(desired) {
		retries = 0
		require.LessOrEqual(t, r.dev.hardCnt, 1, "an edge was sent twice: %v", r.dev.sent)
	}
	require.LessOrEqual(t, r.dev.hardCnt, 1+retries, "a hard action was sent more often than retried: %v", r.dev.sent)
	require.LessOrEqual(t, r.writes, 3+2*retries, "more Inventory writes than the sequence and its retries need")

	// Stable: much later, with a fresh read, nothing more happens.
	r.now, r.synced = r.now.Add(time.Hour), false
	r.dev.tick(r.now)
	in := r.input()
	in.Reading = read(r.dev.state)
	st := Decide(in)
	require.Equal(t, ActNone, st.Action, "acts again later: %v", r.dev.sent)
	require.Nil(t, st.Power, "writes again later")
	return simOutcome{r.host.CurrentPowerState, r.host.PowerStatusIndicator, r.writes, r.dev.hardCnt}
}

// TestPowerMatrix runs every desired power state under every policy against every OS/AMT behaviour, from a host
// that is on and from one that is off, and checks the outcome and the invariants: the intent is journaled before
// each request, a hard action is never sent twice, at most 3 Inventory writes, nothing left in progress, and a
// stable end.
func TestPowerMatrix(t *testing.T) {
	o := func(c computev1.PowerState, ind statusv1.StatusIndication, writes, hard int) simOutcome {
		return simOutcome{c, ind, writes, hard}
	}
	nothing := o(psOn, idle, 0, 0)
	// expectOn is the outcome from a powered-on host, by desired state, policy and behaviour.
	expectOn := func(d computev1.PowerState, immediatePolicy bool, b behaviour) simOutcome {
		refusedAll := b == amtRefuses
		switch d {
		case psOn, psUnspecified:
			return nothing
		case psOff:
			if immediatePolicy {
				return map[behaviour]simOutcome{osOK: o(psOff, idle, 2, 1), osHung: o(psOff, idle, 2, 1), noAgent: o(psOff, idle, 2, 1),
					amtRefuses: o(psOn, failure, 2, 1), answerLost: o(psOff, idle, 2, 1),
					lostNoAct: o(psOff, idle, 4, 2)}[b] // AMT's state read again, the level retried once (2 more writes)
			}
			return map[behaviour]simOutcome{osOK: o(psOff, idle, 2, 0), osHung: o(psOff, idle, 3, 1), noAgent: o(psOff, idle, 3, 1),
				amtRefuses: o(psOn, failure, 3, 1), answerLost: o(psOff, idle, 2, 0), lostNoAct: o(psOff, idle, 3, 1)}[b]
		case psReset, psResetRepeat:
			switch {
			case refusedAll && immediatePolicy:
				return o(psOn, failure, 2, 1)
			case refusedAll:
				return o(psOn, failure, 3, 1)
			case immediatePolicy:
				return o(d, idle, 2, 1)
			case b == noAgent:
				return o(d, idle, 3, 1)
			}
			return o(d, idle, 2, 0) // accepted soft reset: trusted (a warm reboot reads "on" throughout)
		case psCycle:
			if refusedAll {
				return o(psOn, failure, 2, 1)
			}
			return o(psCycle, idle, 2, 1)
		case psSleep, psHibernate:
			switch b {
			case osOK, answerLost:
				return o(d, idle, 2, 0)
			case lostNoAct: // retried once: "retrying (1/5)", then requested again
				return o(d, idle, 4, 0)
			case osHung: // not reached: each of the 5 retries writes "retrying", then the request; then the error
				return o(psOn, failure, 2+2*defaultRetries, 0)
			}
			return o(psOn, failure, 2, 0) // refused by AMT: certain, not retried
		}
		return nothing
	}
	expectOff := func(d computev1.PowerState, b behaviour) simOutcome {
		switch d {
		case psOn:
			switch b {
			case amtRefuses:
				return o(psOff, failure, 2, 1)
			case lostNoAct: // the case: the answer lost, the host still off; retried once and on
				return o(psOn, idle, 4, 2)
			}
			return o(psOn, idle, 2, 1)
		case psOff, psHibernate, psUnspecified:
			return o(psOff, idle, 0, 0)
		}
		return o(psOff, failure, 1, 0) // reset, cycle, sleep of an off host: refused without sending
	}
	states := []computev1.PowerState{psUnspecified, psOn, psOff, psSleep, psHibernate, psReset, psCycle, psResetRepeat}
	policies := []computev1.PowerCommandPolicy{noPolicy, immediate, ordered}
	for _, d := range states {
		for _, pol := range policies {
			for b := range behaviourNames {
				name := fmt.Sprintf("%s/%s/%s", d, pol, behaviourNames[b])
				t.Run("from-on/"+name, func(t *testing.T) {
					require.Equal(t, expectOn(d, pol == immediate, behaviour(b)), simulate(t, d, pol, behaviour(b), amt.PowerOn, crashPoint{}))
				})
				t.Run("from-off/"+name, func(t *testing.T) {
					require.Equal(t, expectOff(d, behaviour(b)), simulate(t, d, pol, behaviour(b), amt.PowerOffSoft, crashPoint{}))
				})
				// Restarts around the first and second requests: the invariants must hold whatever the outcome.
				for _, c := range []crashPoint{{1, false}, {1, true}, {2, false}, {2, true}} {
					t.Run(fmt.Sprintf("restart-%d-%t/%s", c.request, c.afterSend, name), func(t *testing.T) {
						simulate(t, d, pol, behaviour(b), amt.PowerOn, c)
					})
				}
			}
		}
	}
}
