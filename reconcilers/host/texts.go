package host

import (
	"fmt"
	"strings"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
)

// Status texts. Texts are stable for a given situation (no clocks in them) so that repeated reconciles, and several
// replicas, write nothing new; the status timestamp says when. The one counter, a level's retry number, is part of
// the situation: each retry is written once.

const (
	textAMTConnected    = "AMT connected"
	textAMTDeactivated  = "AMT deactivated"
	textAMTNotActivated = "AMT not activated"
	textAMTDeactivating = "Deactivating AMT"
	textPowerUnknown    = "Power state unknown: AMT disconnected"
)

// words names a power request in status texts, after EMF's "Powering on"/"Powered on".
type words struct {
	verb  string // "power off": what a person asked for
	doing string // "Powering off"
	done  string // "Powered off"
}

var powerWords = map[computev1.PowerState]words{
	psOn:          {"power on", "Powering on", "Powered on"},
	psOff:         {"power off", "Powering off", "Powered off"},
	psReset:       {"reset", "Resetting", "Reset done"},
	psResetRepeat: {"reset", "Resetting", "Reset done"},
	psCycle:       {"power cycle", "Power cycling", "Power cycle done"},
	psSleep:       {"sleep", "Entering sleep", "Asleep"},
	psHibernate:   {"hibernate", "Hibernating", "Hibernated"},
}

func wordsFor(s computev1.PowerState) words {
	if w, ok := powerWords[s]; ok {
		return w
	}
	return words{"change the power state", "Changing the power state", "Power state unknown"}
}

// capital upper-cases the first letter of an ASCII verb.
func capital(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// human prints a duration the way people write it: 30s, 1m, 1m30s, 10m, 1h.
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func gatewayName(p Params) string {
	if p.CIRAServerAddress == "" {
		return "dm-manager's CIRA gateway"
	}
	return p.CIRAServerAddress
}

func disconnectedText(in Input) string {
	if in.Device.NeverConnected {
		return fmt.Sprintf("AMT is activated but has not connected for more than %s: check the host's network and "+
			"that it can reach %s", human(in.Params.DisconnectGrace), gatewayName(in.Params))
	}
	return fmt.Sprintf("AMT disconnected for more than %s: check the host's network and that it can reach %s",
		human(in.Params.DisconnectGrace), gatewayName(in.Params))
}

// softText is the status while an ORDERED graceful action runs.
func softText(d computev1.PowerState, p Params) string {
	switch d {
	case psOff:
		return fmt.Sprintf("Powering off: shutdown requested from the OS; hard power off after %s if it does not finish",
			human(p.SoftOffTimeout))
	case psReset, psResetRepeat:
		return "Resetting: restart requested from the OS"
	}
	return wordsFor(d).doing + ": requested from the OS"
}

func softTimeoutText(p Params) string {
	return fmt.Sprintf("Soft power off timed out after %s, forcing hard power off", human(p.SoftOffTimeout))
}

// softRefusedText is the status after AMT refused a graceful action (no OS agent, OS not running).
func softRefusedText(d computev1.PowerState, reason string) string {
	switch d {
	case psOff:
		return fmt.Sprintf("Soft power off not available (AMT: %s), forcing hard power off", reason)
	case psReset, psResetRepeat:
		return fmt.Sprintf("Soft reset not available (AMT: %s), power cycling", reason)
	}
	return inBandText(d, reason)
}

// inBandText explains why sleep or hibernate failed: AMT only hands them to the OS (§10.2: action 4 and 7 need an
// agent running while the OS is up).
func inBandText(d computev1.PowerState, reason string) string {
	return fmt.Sprintf("%s is only available in-band through the OS; AMT could not pass the request on (%s): "+
		"check that the OS is running with Intel LMS", capital(wordsFor(d).verb), reason)
}

func resetLeftOffText(obs computev1.PowerState, p Params) string {
	return fmt.Sprintf("Soft reset left the host %s after %s, powering on", stateWord(obs), human(p.ResetTimeout))
}

func notReachedText(d computev1.PowerState, timeout time.Duration) string {
	return fmt.Sprintf("%s not reached within %s: the OS did not act on the request", capital(wordsFor(d).verb), human(timeout))
}

func blockedText(d, obs computev1.PowerState) string {
	return fmt.Sprintf("Cannot %s: the host is %s; set the desired power state to ON first", wordsFor(d).verb, stateWord(obs))
}

// refusedText is the status after AMT refused a hard action.
func refusedText(d computev1.PowerState, o Outcome) string {
	if o.Auth {
		return fmt.Sprintf("%s failed: AMT rejected dm-manager's credentials; deactivate and re-activate the device",
			capital(wordsFor(d).verb))
	}
	return fmt.Sprintf("%s failed: AMT refused it (%s)", capital(wordsFor(d).verb), o.Reason)
}

// unconfirmedText: a level's request whose answer was lost, and the state read afterwards is another.
func unconfirmedText(d, obs computev1.PowerState) string {
	return fmt.Sprintf("%s not confirmed: AMT's answer was lost and the host reports %s", capital(wordsFor(d).verb),
		stateWord(obs))
}

// unconfirmedEdgeText: a reset or power cycle whose answer was lost, and the state read afterwards does not show
// it done. It may have happened, so it is not repeated; a new request is needed (another desired state first, or
// RESET_REPEAT after RESET), since writing the same one again must not reset a host twice.
func unconfirmedEdgeText(d, obs computev1.PowerState) string {
	return fmt.Sprintf("%s not confirmed: AMT's answer was lost and the host reports %s; not repeated, to avoid a "+
		"second %s (request it anew to retry)", capital(wordsFor(d).verb), stateWord(obs), wordsFor(d).verb)
}

// unknownEdgeText: a reset or power cycle was possibly sent (journaled, then the answer was lost or the replica
// sending it stopped) and the host reads "on", as it would with or without it.
func unknownEdgeText(d computev1.PowerState) string {
	w := wordsFor(d)
	return fmt.Sprintf("%s outcome unknown: the request may or may not have reached AMT (its answer was lost, or "+
		"dm-manager stopped while sending it) and the host reads on either way; not repeated, to avoid a second %s "+
		"(request it anew to retry)", capital(w.verb), w.verb)
}

// retryText is the status while a level waits for retry n of max.
func retryText(why string, n int32, maxRetries int, wait time.Duration) string {
	return fmt.Sprintf("%s; retrying (%d/%d) in %s", why, n, maxRetries, human(wait))
}

// exhaustedText is the status of a level whose retries are used up.
func exhaustedText(why string, retries int) string {
	return fmt.Sprintf("%s; gave up after %d retries (set the desired power state again to retry)", why, retries)
}

func unconfirmedDoneText(d computev1.PowerState) string {
	if isAction(d) {
		return wordsFor(d).done + " (AMT's answer was lost; not repeated, to avoid a second " + wordsFor(d).verb + ")"
	}
	return wordsFor(d).done
}

func waitingText(d computev1.PowerState, inFlight bool) string {
	if inFlight {
		return fmt.Sprintf("%s interrupted: AMT disconnected; it continues when the device reconnects",
			capital(wordsFor(d).verb))
	}
	return fmt.Sprintf("Cannot %s: AMT disconnected; it continues when the device reconnects", wordsFor(d).verb)
}

func readFailedText(o Outcome) string {
	if o.Auth {
		return "Cannot read the power state: AMT rejected dm-manager's credentials; deactivate and re-activate the device"
	}
	return "Cannot read the power state: AMT refused it (" + o.Reason + ")"
}

func stateWord(s computev1.PowerState) string {
	switch s {
	case psOn:
		return "on"
	case psOff:
		return "powered off"
	case psSleep:
		return "asleep"
	case psHibernate:
		return "hibernating"
	}
	return "in an unknown power state"
}

// observedText is the status for a state read from AMT rather than reached by a request.
func observedText(obs computev1.PowerState) string {
	if obs == psUnspecified {
		return "Power state unknown: AMT reported a state dm-manager does not know"
	}
	return wordsFor(obs).done
}

func deactivationWaitText(p Params, deleting bool) string {
	if deleting {
		return fmt.Sprintf("Deactivating AMT: waiting for the device to connect to %s; if it does not within %s, "+
			"dm-manager forgets it and AMT must be deactivated locally (rpc deactivate)", gatewayName(p), human(p.ForgetAfter))
	}
	return fmt.Sprintf("Cannot deactivate AMT: the device is not connected to %s; deactivation resumes when it "+
		"connects", gatewayName(p))
}

func deactivationRefusedText(o Outcome) string {
	if o.Auth {
		return "AMT deactivation failed: AMT rejected dm-manager's credentials; deactivate it locally (rpc deactivate)"
	}
	return "AMT deactivation failed: AMT refused it (" + o.Reason + "); retrying"
}
