package host

import (
	"strings"
	"testing"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

const (
	immediate = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
	ordered   = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED
	noPolicy  = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_UNSPECIFIED

	amtProv   = computev1.AmtState_AMT_STATE_PROVISIONED
	amtUnprov = computev1.AmtState_AMT_STATE_UNPROVISIONED
	amtDisc   = computev1.AmtState_AMT_STATE_DISCONNECTED
	amtNone   = computev1.AmtState_AMT_STATE_UNSPECIFIED
)

var testParams = Params{
	CIRAServerAddress: "mps.example.com:4433",
	SoftOffTimeout:    30 * time.Second, ResetTimeout: 30 * time.Second, StateCheckInterval: 5 * time.Second,
	ActionSettle: 10 * time.Second, DisconnectGrace: time.Minute, ForgetAfter: 10 * time.Minute,
	OwnerStaleAfter: 3 * time.Minute, ReplicaID: "replica-a",
}

// hostOpt edits a test host.
type hostOpt func(*computev1.HostResource)

// provisionedHost is a provisioned host that Inventory shows connected, powered on, with matching statuses.
func provisionedHost(desired computev1.PowerState, pol computev1.PowerCommandPolicy, opts ...hostOpt) *computev1.HostResource {
	h := &computev1.HostResource{
		ResourceId: "host-12345678", TenantId: "11111111-1111-1111-1111-111111111111",
		Uuid:              "22222222-2222-2222-2222-222222222222",
		DesiredPowerState: desired, CurrentPowerState: psOn, PowerStatus: "Powered on", PowerStatusIndicator: idle,
		PowerCommandPolicy: pol,
		DesiredAmtState:    amtProv, CurrentAmtState: amtProv, AmtStatus: textAMTConnected, AmtStatusIndicator: idle,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

func current(s computev1.PowerState, text string, ind statusv1.StatusIndication) hostOpt {
	return func(h *computev1.HostResource) {
		h.CurrentPowerState, h.PowerStatus, h.PowerStatusIndicator = s, text, ind
	}
}

func amtCurrent(s computev1.AmtState, text string, ind statusv1.StatusIndication) hostOpt {
	return func(h *computev1.HostResource) { h.CurrentAmtState, h.AmtStatus, h.AmtStatusIndicator = s, text, ind }
}

func desiredAMT(s computev1.AmtState) hostOpt {
	return func(h *computev1.HostResource) { h.DesiredAmtState = s }
}

func hostState(s computev1.HostState) hostOpt {
	return func(h *computev1.HostResource) { h.DesiredState = s }
}

// Device facts: activated devices linked to their host (a missing host means it was deleted).
var (
	connSynced   = DeviceFacts{Known: true, Linked: true, Provisioned: true, Connected: true, Since: t0.Add(-time.Hour), PowerSynced: true}
	connUnsynced = DeviceFacts{Known: true, Linked: true, Provisioned: true, Connected: true, Since: t0.Add(-time.Second)}
	goneBrief    = DeviceFacts{Known: true, Linked: true, Provisioned: true, Since: t0.Add(-10 * time.Second)} // within grace
	goneLong     = DeviceFacts{Known: true, Linked: true, Provisioned: true, Since: t0.Add(-5 * time.Minute)}  // beyond grace
	elsewhere    = DeviceFacts{Known: true, Linked: true, Provisioned: true, Elsewhere: true, Since: t0.Add(-time.Hour)}
	notActivated = DeviceFacts{Known: true, Connected: false}
)

// unlinked is f for a device whose record names no host yet (imported before Inventory had its host).
func unlinked(f DeviceFacts) DeviceFacts {
	f.Linked = false
	return f
}

// pj builds a power journal entry.
func pj(d computev1.PowerState, phase string, action amt.PowerState, startedAgo time.Duration, opts ...func(*store.JournalEntry)) *store.JournalEntry {
	e := &store.JournalEntry{Kind: store.OpPower, Desired: int32(d), Step: phase,
		Sequence: powerPlan{Steps: []amt.PowerState{action}, Action: action}.encode()}
	if startedAgo >= 0 {
		e.StepStartedAt = t0.Add(-startedAgo)
	}
	switch phase {
	case phaseSoftSent, phaseSoftAccepted:
		e.DeadlineAt = e.StepStartedAt.Add(timeoutFor(d, testParams))
	case phaseHardIntent, phaseHardSent:
		e.HardActionSent = true
		e.DeadlineAt = e.StepStartedAt.Add(testParams.ActionSettle)
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

func lastError(s string) func(*store.JournalEntry) {
	return func(e *store.JournalEntry) { e.LastError = s }
}

func dj(step string, createdAgo time.Duration, opts ...func(*store.JournalEntry)) *store.JournalEntry {
	e := &store.JournalEntry{Kind: store.OpDeactivation, Step: step, CreatedAt: t0.Add(-createdAgo),
		StepStartedAt: t0.Add(-createdAgo)}
	for _, o := range opts {
		o(e)
	}
	return e
}

func read(s amt.PowerState) *Reading { return &Reading{State: s} }

// want describes the parts of a Step a case checks; zero fields must be zero in the step.
type want struct {
	action Action
	value  amt.PowerState
	hard   bool

	power     *statusWant
	amt       *amtWant
	journal   []journalWant
	after     time.Duration
	requeue   bool
	retry     bool
	warn      bool
	powerTime bool // power_on_time is written
}

type statusWant struct {
	state computev1.PowerState
	text  string // exact, or a prefix ending in "…"
	ind   statusv1.StatusIndication
}

type amtWant struct {
	state computev1.AmtState
	text  string
	ind   statusv1.StatusIndication
}

type journalWant struct {
	del      bool
	kind     store.OpKind
	phase    string
	desired  computev1.PowerState
	hardSent bool
	action   amt.PowerState // plan action, when non-zero
}

func pw(state computev1.PowerState, text string, ind statusv1.StatusIndication) *statusWant {
	return &statusWant{state, text, ind}
}

func aw(state computev1.AmtState, text string, ind statusv1.StatusIndication) *amtWant {
	return &amtWant{state, text, ind}
}

func jPower(phase string, d computev1.PowerState, hardSent bool, action amt.PowerState) journalWant {
	return journalWant{kind: store.OpPower, phase: phase, desired: d, hardSent: hardSent, action: action}
}

func jDel(kind store.OpKind) journalWant { return journalWant{del: true, kind: kind} }

func jDeact(phase string) journalWant { return journalWant{kind: store.OpDeactivation, phase: phase} }

func matchText(t *testing.T, want, got, what string) {
	t.Helper()
	if p, ok := strings.CutSuffix(want, "…"); ok {
		require.True(t, strings.HasPrefix(got, p), "%s: %q does not start with %q", what, got, p)
		return
	}
	require.Equal(t, want, got, what)
}

func checkStep(t *testing.T, w want, st Step) {
	t.Helper()
	require.Equal(t, w.action, st.Action, "action")
	require.Equal(t, w.value, st.PowerValue, "power value")
	require.Equal(t, w.hard, st.Hard, "hard")
	if w.power == nil {
		require.Nil(t, st.Power, "power report")
	} else {
		require.NotNil(t, st.Power, "power report")
		require.Equal(t, w.power.state, st.Power.Current, "current_power_state")
		matchText(t, w.power.text, st.Power.Status, "power_status")
		require.Equal(t, w.power.ind, st.Power.Indicator, "power_status_indicator")
		require.Equal(t, w.powerTime, st.Power.OnTime != nil, "power_on_time written")
	}
	if w.amt == nil {
		require.Nil(t, st.AMT, "AMT report")
	} else {
		require.NotNil(t, st.AMT, "AMT report")
		require.Equal(t, w.amt.state, st.AMT.Current, "current_amt_state")
		matchText(t, w.amt.text, st.AMT.Status, "amt_status")
		require.Equal(t, w.amt.ind, st.AMT.Indicator, "amt_status_indicator")
	}
	require.Len(t, st.Journal, len(w.journal), "journal ops %+v", st.Journal)
	for i, jw := range w.journal {
		op := st.Journal[i]
		require.Equal(t, jw.del, op.Delete, "journal[%d] delete", i)
		require.Equal(t, jw.kind, op.Entry.Kind, "journal[%d] kind", i)
		if jw.del {
			continue
		}
		require.Equal(t, jw.phase, op.Entry.Step, "journal[%d] phase", i)
		if jw.kind == store.OpPower {
			require.Equal(t, int32(jw.desired), op.Entry.Desired, "journal[%d] desired", i)
			require.Equal(t, jw.hardSent, op.Entry.HardActionSent, "journal[%d] hard_action_sent", i)
			if jw.action != 0 {
				require.Equal(t, jw.action, planOf(&op.Entry).Action, "journal[%d] plan action", i)
			}
		}
	}
	require.Equal(t, w.after, st.After, "after")
	require.Equal(t, w.requeue, st.Requeue, "requeue")
	require.Equal(t, w.retry, st.Retry != nil, "retry")
	require.Equal(t, w.warn, st.Warn != "", "warn: %q", st.Warn)
}

// tries sets a power entry's retry count.
func tries(n int32) func(*store.JournalEntry) { return func(e *store.JournalEntry) { e.Attempts = n } }

// deadlineIn sets a power entry's deadline relative to t0.
func deadlineIn(d time.Duration) func(*store.JournalEntry) {
	return func(e *store.JournalEntry) { e.DeadlineAt = t0.Add(d) }
}
