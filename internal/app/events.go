package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/events"
)

// startEvents builds the event sinks before anything that emits starts: the audit trail in Postgres always,
// MQTT when -mqttAddress is set. They stop after every producer (reverse start order), so the gateway's last
// disconnects are still published.
func (a *app) startEvents(context.Context) error {
	m, err := events.NewMetrics(a.reg)
	if err != nil {
		return err
	}
	rec, err := events.NewRecorder(events.RecorderConfig{
		Trail: a.store, Retention: a.cfg.EventRetention, Replica: a.cfg.ReplicaID, Metrics: m, Log: a.log,
	})
	if err != nil {
		return err
	}
	a.onStop("audit trail", rec.Close)
	sinks := events.Fanout{rec}
	if a.cfg.MQTTAddress != "" {
		tlsCfg, err := mqttTLS(a.cfg.MQTTCACert, a.cfg.MQTTClientCert, a.cfg.MQTTClientKey)
		if err != nil {
			return err
		}
		pub, err := events.NewPublisher(events.MQTTConfig{
			Address: a.cfg.MQTTAddress, TopicPrefix: a.cfg.MQTTTopicPrefix, Username: a.cfg.MQTTUsername,
			Password: a.cfg.MQTTPassword, TLS: tlsCfg, Replica: a.cfg.ReplicaID, Metrics: m, Log: a.log,
		})
		if err != nil {
			return &ConfigError{Flag: "mqttAddress", Msg: err.Error()}
		}
		a.onStop("MQTT publisher", pub.Close)
		sinks = append(sinks, pub)
	}
	a.events = sinks
	return nil
}

// mqttTLS reads the broker CA and the client certificate named by DM_MQTT_CA_CERT, DM_MQTT_CLIENT_CERT and
// DM_MQTT_CLIENT_KEY; nil when none is set (a tls:// address then trusts the system roots).
func mqttTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile) //nolint:gosec // G304: the operator's CA file (DM_MQTT_CA_CERT)
		if err != nil {
			return nil, &ConfigError{Flag: "mqttAddress", Msg: "DM_MQTT_CA_CERT: " + err.Error()}
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Flag: "mqttAddress", Msg: "DM_MQTT_CA_CERT " + caFile + " holds no PEM certificate"}
		}
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, &ConfigError{Flag: "mqttAddress", Msg: "DM_MQTT_CLIENT_CERT/DM_MQTT_CLIENT_KEY: " + err.Error()}
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// emitSessions publishes the gateway's connects and disconnects; it is subscribed before the gateway serves and
// ends when the gateway closes the channel.
func (a *app) emitSessions(ch <-chan ciragw.Event, unsubscribe func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			kind := events.CIRAConnected
			if ev.Kind != ciragw.Connected {
				kind = events.CIRADisconnected
			}
			a.events.Emit(events.Event{Kind: kind, Tenant: ev.Tenant, GUID: ev.GUID, At: ev.At, Source: "gateway"})
		}
	}()
	a.onStop("session events", func() {
		unsubscribe()
		<-done
	})
}

// activationEvents turns the activation engine's starts and outcomes into events and metrics. The engine runs
// one session per device at a time, so the start time is kept by GUID until the outcome.
type activationEvents struct {
	sink events.Sink

	mu      sync.Mutex
	started map[string]time.Time
}

func newActivationEvents(sink events.Sink) *activationEvents {
	return &activationEvents{sink: sink, started: map[string]time.Time{}}
}

// start records op's start and publishes activation_started or deactivation_started.
func (e *activationEvents) start(tenant, guid, op string, at time.Time) {
	e.mu.Lock()
	e.started[guid] = at
	e.mu.Unlock()
	kind, ok := map[string]events.Kind{"activate": events.ActivationStarted, "deactivate": events.DeactivationStarted}[op]
	if ok {
		e.sink.Emit(events.Event{Kind: kind, Tenant: tenant, GUID: guid, At: at, Source: "activation"})
	}
}

// ended publishes the outcome and returns the operation's duration (0 when its start was not seen).
func (e *activationEvents) ended(tenant, guid, op, mode, message string, ok bool, at time.Time) time.Duration {
	e.mu.Lock()
	start, seen := e.started[guid]
	delete(e.started, guid)
	e.mu.Unlock()
	var d time.Duration
	if seen {
		d = at.Sub(start)
	}
	ev := events.Event{Tenant: tenant, GUID: guid, At: at, Mode: mode, Duration: d, Message: message,
		Outcome: events.OutcomeOK, Source: "activation"}
	switch {
	case op == "activate" && ok:
		ev.Kind = events.ActivationSucceeded
	case op == "activate":
		ev.Kind, ev.Outcome = events.ActivationFailed, events.OutcomeError
	case op == "deactivate" && ok:
		ev.Kind = events.Deactivated
	case op == "deactivate":
		ev.Kind, ev.Outcome = events.DeactivationFailed, events.OutcomeError
	default:
		return d
	}
	e.sink.Emit(ev)
	return d
}

// errOutcome classifies an AMT request's error for events and metrics without exposing its text's details.
func errOutcome(err error, notSent, unknown func(error) bool) string {
	switch {
	case err == nil:
		return events.OutcomeOK
	case notSent(err):
		return events.OutcomeNotSent
	case unknown(err):
		return events.OutcomeUnknown
	case errors.Is(err, context.Canceled):
		return events.OutcomeAborted
	}
	return events.OutcomeError
}

// errMessage is the event text of a failed request: the error's text, which for WS-Man and gateway errors
// names the device and the AMT return value or fault, and never credentials (the digest exchange is not quoted).
func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprint(err)
}
