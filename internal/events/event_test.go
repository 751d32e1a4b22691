package events

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	tenant = "7a3c1f9e-2b4d-4e5f-8a6b-9c0d1e2f3a4b"
	guid   = "4c4c4544-0046-3810-8052-b3c04f4d3732"
)

func TestTopicAndValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ev    Event
		topic string
		err   string
	}{
		{"device", Event{Kind: CIRAConnected, Tenant: tenant, GUID: strings.ToUpper(guid)},
			"p/" + tenant + "/" + guid + "/cira_connected", ""},
		{"tenant level", Event{Kind: DomainAdded, Tenant: tenant}, "p/" + tenant + "/domains/domain_added", ""},
		{"tenant level ignores guid", Event{Kind: DomainRemoved, Tenant: tenant, GUID: guid},
			"p/" + tenant + "/domains/domain_removed", ""},
		{"wildcard in tenant", Event{Kind: CIRAConnected, Tenant: "a/#", GUID: guid}, "", "tenant"},
		{"plus in guid", Event{Kind: CIRAConnected, Tenant: tenant, GUID: "+"}, "", "GUID"},
		{"no guid", Event{Kind: PowerDone, Tenant: tenant}, "", "GUID"},
		{"guid named domains", Event{Kind: PowerDone, Tenant: tenant, GUID: "domains"}, "", "GUID"},
		{"no tenant", Event{Kind: PowerDone, GUID: guid}, "", "tenant"},
		{"bad kind", Event{Kind: "Power/Done", Tenant: tenant, GUID: guid}, "", "kind"},
		{"empty kind", Event{Tenant: tenant, GUID: guid}, "", "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ev.Validate()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.topic, tc.ev.Topic("p"))
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.FixedZone("x", 3600))
	e := Event{Kind: PowerDone, Tenant: tenant, GUID: strings.ToUpper(guid), At: at, Desired: "POWER_STATE_OFF",
		AMTValue: 12, Action: "soft", Outcome: OutcomeOK, Duration: 840 * time.Millisecond, Source: "reconciler"}
	b := PayloadOf(e, "id-1", "r0").JSON()
	require.JSONEq(t, `{"version":1,"id":"id-1","kind":"power_done","tenant":"`+tenant+`","guid":"`+guid+`",
		"at":"2026-01-02T14:04:05.123Z","desired":"POWER_STATE_OFF","amtValue":12,"action":"soft","outcome":"ok",
		"durationMs":840,"source":"reconciler","replica":"r0"}`, string(b))
	p, err := ParsePayload(b)
	require.NoError(t, err)
	require.Equal(t, PowerDone, p.Kind)

	for _, bad := range []string{`{`, `{"version":2,"kind":"x","tenant":"t"}`, `{"version":1}`} {
		_, err := ParsePayload([]byte(bad))
		require.Error(t, err, bad)
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add(PayloadOf(Event{Kind: CIRAConnected, Tenant: tenant, GUID: guid}, "", "").JSON())
	f.Add([]byte(`{"version":1,"kind":"x","tenant":"t","durationMs":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		if p.Version != Version || p.Kind == "" || p.Tenant == "" {
			t.Fatalf("accepted %q as %+v", b, p)
		}
	})
}

func TestBrokerURL(t *testing.T) {
	for _, tc := range []struct {
		in, url string
		tls     bool
		err     bool
	}{
		{"127.0.0.1:1883", "tcp://127.0.0.1:1883", false, false},
		{"mqtt://broker:1883", "tcp://broker:1883", false, false},
		{"tls://broker:8883", "ssl://broker:8883", true, false},
		{"mqtts://broker:8883", "ssl://broker:8883", true, false},
		{"ws://broker:80", "", false, true},
		{"broker", "", false, true},
		{":1883", "", false, true},
	} {
		url, tlsOn, err := BrokerURL(tc.in)
		if tc.err {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.url, url)
		require.Equal(t, tc.tls, tlsOn)
	}
}
