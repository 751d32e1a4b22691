package host

import (
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

var (
	powerPhases = []string{"", phaseDone, phaseFailed, phaseSoftSent, phaseSoftAccepted, phaseSoftRefused, phaseHardIntent, phaseHardSent, phaseRetry, "bogus"}
	deactSteps  = []string{"", stepWaiting, stepUnprovisionSent, stepForget}
)

// fuzzInput builds an Input from fuzzed numbers; seq is a stored journal Sequence (parsed by planOf).
func fuzzInput(desired, cur, pol, amtWant, amtCur, hostState, flags uint8, sinceAgo, startedAgo uint16,
	phase, pjDesired, action, dstep, attempts uint8, reading int8, seq []byte) Input {
	in := Input{Now: t0, Params: testParams}
	if flags&1 == 0 {
		in.Host = &computev1.HostResource{
			ResourceId: "host-1", DesiredPowerState: computev1.PowerState(desired % 9),
			CurrentPowerState: computev1.PowerState(cur % 9), PowerStatus: "x",
			PowerStatusIndicator: statusv1.StatusIndication(flags >> 6),
			PowerCommandPolicy:   computev1.PowerCommandPolicy(pol % 3),
			DesiredAmtState:      computev1.AmtState(amtWant % 4), CurrentAmtState: computev1.AmtState(amtCur % 4),
			DesiredState: []computev1.HostState{0, computev1.HostState_HOST_STATE_DELETED,
				computev1.HostState_HOST_STATE_UNTRUSTED, computev1.HostState_HOST_STATE_ONBOARDED}[hostState%4],
		}
	}
	in.Device = DeviceFacts{Known: flags&2 != 0, Linked: flags&2 != 0 && hostState&4 == 0, Provisioned: flags&6 == 6, Connected: flags&8 != 0,
		Elsewhere: flags&24 == 16, NeverConnected: flags&32 != 0, PowerSynced: flags&8 != 0 && flags&128 != 0,
		Since: t0.Add(-time.Duration(sinceAgo) * time.Second)}
	if p := powerPhases[phase%uint8(len(powerPhases))]; p != "" {
		e := pj(computev1.PowerState(pjDesired%9), p, amt.PowerState(action%18), time.Duration(startedAgo)*time.Second)
		if len(seq) > 0 {
			e.Sequence = seq
		}
		in.Power = e
	}
	if s := deactSteps[dstep%uint8(len(deactSteps))]; s != "" {
		in.Deactivation = dj(s, time.Duration(startedAgo)*time.Second,
			attemptsOpt(int32(attempts%4), time.Duration(sinceAgo%100)*time.Second-50*time.Second))
	}
	if reading >= 0 && flags&8 != 0 {
		in.Reading = read(amt.PowerState(reading % 18))
	}
	return in
}

func attemptsOpt(n int32, retryIn time.Duration) func(*store.JournalEntry) {
	return func(e *store.JournalEntry) { e.Attempts, e.DeadlineAt = n, t0.Add(retryIn) }
}

// checkInvariants holds for every decision, whatever the input.
func checkInvariants(t *testing.T, in Input, st Step) {
	t.Helper()
	if in.Host == nil {
		require.Nil(t, st.AMT, "status for a host Inventory does not have")
		require.Nil(t, st.Power, "status for a host Inventory does not have")
	}
	if in.Host == nil && !in.Device.Linked && in.Device.Known &&
		(in.Deactivation == nil || in.Deactivation.Step == stepWaiting) {
		require.Equal(t, ActNone, st.Action, "a device without a host yet is not acted on")
	}
	if in.Reading != nil {
		require.NotEqual(t, ActReadPower, st.Action, "asked to read again")
	}
	if st.Action == ActReadPower {
		require.True(t, in.Device.Connected, "read without a session")
		require.Nil(t, st.Power)
		require.Empty(t, st.Journal)
	}
	kinds := map[store.OpKind]JournalOp{}
	for _, op := range st.Journal {
		kinds[op.Entry.Kind] = op
	}
	switch st.Action {
	case ActSendPower:
		require.True(t, in.Device.Connected, "power request without a session")
		op, ok := kinds[store.OpPower]
		require.True(t, ok && !op.Delete, "power request without its journal intent")
		require.Equal(t, st.PowerValue, planOf(&op.Entry).Action, "intent names another action")
		require.Equal(t, st.Hard, op.Entry.HardActionSent, "hard_action_sent not set before a hard request")
		if in.Power != nil && in.Power.HardActionSent && in.Power.Step == phaseHardIntent &&
			psOf(in.Power.Desired) == in.Host.GetDesiredPowerState() {
			t.Fatalf("a possibly sent hard action is sent again")
		}
		if pj := in.Power; pj != nil && pj.HardActionSent && isAction(psOf(pj.Desired)) &&
			psOf(pj.Desired) == in.Host.GetDesiredPowerState() {
			t.Fatalf("an edge (%s) possibly sent is sent again", psOf(pj.Desired))
		}
		if pj := in.Power; pj != nil && pj.Step == phaseRetry && in.Now.Before(pj.DeadlineAt) &&
			psOf(pj.Desired) == in.Host.GetDesiredPowerState() {
			t.Fatalf("a level retried before its backoff ended")
		}
		if pj := in.Power; pj != nil && pj.Step == phaseHardIntent && in.Reading == nil &&
			psOf(pj.Desired) == in.Host.GetDesiredPowerState() {
			t.Fatalf("a level retried without reading AMT's state after an uncertain outcome")
		}
	case ActUnprovision:
		require.True(t, in.Device.Connected, "unprovision without a session")
		op, ok := kinds[store.OpDeactivation]
		require.True(t, ok && !op.Delete && op.Entry.Step == stepUnprovisionSent, "unprovision without its intent")
	}
	if st.Power != nil {
		require.LessOrEqual(t, len(st.Power.Status), maxStatusLen)
		if st.Power.Indicator == inProgress && st.Action != ActSendPower {
			op, ok := kinds[store.OpPower]
			require.True(t, ok && !op.Delete && op.Entry.Step == phaseRetry && !op.Entry.DeadlineAt.IsZero(),
				"in progress shown with nothing in flight or due: %q", st.Power.Status)
		}
	}
	if st.AMT != nil {
		require.LessOrEqual(t, len(st.AMT.Status), maxStatusLen)
	}
	if op, ok := kinds[store.OpPower]; ok && !op.Delete && op.Entry.Step == phaseRetry {
		require.False(t, isAction(psOf(op.Entry.Desired)), "an edge scheduled for a retry")
		require.LessOrEqual(t, int(op.Entry.Attempts), in.Params.withDefaults().LevelRetries, "retries beyond the bound")
		require.True(t, op.Entry.DeadlineAt.After(in.Now), "a retry without a backoff")
	}
	require.GreaterOrEqual(t, st.After, time.Duration(0))
}

func FuzzDecide(f *testing.F) {
	f.Add(uint8(3), uint8(2), uint8(2), uint8(1), uint8(1), uint8(0), uint8(0b10001110), uint16(10), uint16(31),
		uint8(3), uint8(3), uint8(12), uint8(0), uint8(0), int8(2), []byte(nil))
	f.Add(uint8(6), uint8(2), uint8(1), uint8(2), uint8(1), uint8(1), uint8(0b00000110), uint16(400), uint16(700),
		uint8(5), uint8(6), uint8(10), uint8(1), uint8(2), int8(-1), []byte(`{"steps":[14,5],"action":5}`))
	f.Add(uint8(4), uint8(3), uint8(0), uint8(2), uint8(3), uint8(2), uint8(0b11001111), uint16(0), uint16(0),
		uint8(4), uint8(4), uint8(4), uint8(2), uint8(1), int8(8), []byte(`not json`))
	f.Fuzz(func(t *testing.T, desired, cur, pol, amtWant, amtCur, hostState, flags uint8, sinceAgo, startedAgo uint16,
		phase, pjDesired, action, dstep, attempts uint8, reading int8, seq []byte) {
		in := fuzzInput(desired, cur, pol, amtWant, amtCur, hostState, flags, sinceAgo, startedAgo, phase, pjDesired,
			action, dstep, attempts, reading, seq)
		st := Decide(in)
		checkInvariants(t, in, st)
		if st.Action == ActSendPower || st.Action == ActUnprovision {
			for _, k := range []OutcomeKind{Accepted, NotSent, Refused, Uncertain} {
				s := Settle(in, st, Outcome{Kind: k, Reason: "NOT_READY"})
				require.Equal(t, ActNone, s.Action)
			}
		}
	})
}

// TestDecideGrid runs the invariants over a grid of inputs on every test run (the fuzzer explores beyond it).
func TestDecideGrid(t *testing.T) {
	n := 0
	for desired := range uint8(9) {
		for _, flags := range []uint8{0, 0b110, 0b1110, 0b10001110, 0b10110, 0b100110, 0b1} {
			for phase := range uint8(len(powerPhases)) {
				for dstep := range uint8(len(deactSteps)) {
					for _, reading := range []int8{-1, 2, 8, 4, 7} {
						for _, ago := range []uint16{0, 20, 400, 1000} {
							in := fuzzInput(desired, 2, desired%3, desired%4, 1, desired%8, flags, ago, ago, phase,
								desired+phase, 8+phase, dstep, phase%3, reading, nil)
							checkInvariants(t, in, Decide(in))
							n++
						}
					}
				}
			}
		}
	}
	require.Greater(t, n, 10000)
}
