// Package mqtttest gives tests a real Mosquitto: the shared one on 127.0.0.1:1883 (scripts/testenv.sh starts
// it), or a private broker process on a loopback port of the test's own, which the test may stop and start
// without disturbing others; and a subscriber that collects what arrives.
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SharedAddress is the broker scripts/testenv.sh runs.
const SharedAddress = "127.0.0.1:1883"

// Shared returns SharedAddress, or skips the test when nothing answers there.
func Shared(t testing.TB) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", SharedAddress, 2*time.Second)
	if err != nil {
		t.Skipf("no MQTT broker on %s (run scripts/testenv.sh): %v", SharedAddress, err)
	}
	_ = c.Close()
	return SharedAddress
}

// Broker is a private mosquitto process on 127.0.0.1:Port.
type Broker struct {
	t    testing.TB
	Port int
	bin  string
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// Addr is host:port.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }

// Private starts a mosquitto of the test's own (skips when the binary is missing); it is stopped at cleanup.
func Private(t testing.TB) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("mosquitto is not installed (scripts/testenv.sh installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil { //nolint:gosec // G306: mosquitto may drop root
		t.Fatal(err)
	}
	b := &Broker{t: t, Port: port, bin: bin, conf: conf}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Start runs the broker and waits until it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return
	}
	cmd := exec.Command(b.bin, "-c", b.conf) //nolint:gosec // G204: the test's own binary and file
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting mosquitto: %v", err)
	}
	b.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto did not listen on %s: %v", b.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond) // no signal for "listening" from a child process but the port itself
	}
}

// Stop kills the broker (as a crash would) and waits for it to exit.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
}

// Message is one received message.
type Message struct {
	Topic   string
	Payload []byte
}

// Subscriber collects the messages of one topic filter.
type Subscriber struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs []Message
	wake chan struct{}
}

// Subscribe connects to addr and subscribes to filter at QoS 1; it disconnects at cleanup.
func Subscribe(t testing.TB, addr, filter string) *Subscriber {
	return SubscribeWith(t, addr, filter, nil)
}

// SubscribeWith is Subscribe that also hands each message to each (may be nil) as it arrives.
func SubscribeWith(t testing.TB, addr, filter string, each func(Message)) *Subscriber {
	t.Helper()
	s := &Subscriber{wake: make(chan struct{}, 1)}
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("test-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetConnectRetry(false).SetOrderMatters(true)
	s.c = mqtt.NewClient(opts)
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connecting to %s: %v", addr, tok.Error())
	}
	tok := s.c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		msg := Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)}
		s.mu.Lock()
		s.msgs = append(s.msgs, msg)
		s.mu.Unlock()
		if each != nil {
			each(msg)
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: subscribing to %s: %v", filter, tok.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(100) })
	return s
}

// Messages returns a copy of what arrived so far.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until ok holds for the messages received, or fails the test after timeout.
func (s *Subscriber) WaitFor(t testing.TB, timeout time.Duration, what string, ok func([]Message) bool) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := s.Messages(); ok(m) {
			return m
		}
		select {
		case <-s.wake:
		case <-deadline.C:
			var topics []string
			for _, m := range s.Messages() {
				topics = append(topics, m.Topic)
			}
			t.Fatalf("MQTT: %s not received within %s; got %d messages: %v", what, timeout, len(topics), topics)
		}
	}
}
