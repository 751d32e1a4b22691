package events

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
)

// MQTTConfig configures a Publisher. Address is required; the rest has defaults.
type MQTTConfig struct {
	// Address is the broker: host:port (plain TCP) or tls://host:port (TLS; TLS below, or the system roots).
	Address     string
	TopicPrefix string      // default "dm-manager"
	Username    string      // from the environment only (DM_MQTT_USERNAME)
	Password    string      // from the environment only (DM_MQTT_PASSWORD); never logged
	TLS         *tls.Config // for tls:// addresses; nil: system roots, server name from the address
	ClientID    string      // default dm-manager-<replica>-<random>: replicas never take each other's session
	Replica     string      // the "replica" field of payloads

	BufferSize int // events held while the broker is slow or away; default 4096
	// PublishTimeout bounds the wait for the broker's PUBACK; a later one is counted as dropped (failed).
	PublishTimeout time.Duration // default 10s
	// ConnectRetryInterval is the wait between attempts of the first connection; MaxReconnectInterval caps the
	// doubling wait between attempts after a lost connection.
	ConnectRetryInterval time.Duration // default 2s
	MaxReconnectInterval time.Duration // default 30s

	Metrics *Metrics
	Log     zerolog.Logger
}

// Publisher sends events to an MQTT broker at QoS 1. Emit only enqueues; one goroutine publishes in order,
// waiting for the connection while the broker is away (the buffer fills, then new events are dropped and
// counted). paho reconnects by itself with a doubling wait.
type Publisher struct {
	cfg    MQTTConfig
	buf    *buffer
	client mqtt.Client
	log    zerolog.Logger

	mu sync.Mutex
	up chan struct{} // closed while connected; replaced by an open one when the connection is lost

	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// BrokerURL turns an -mqttAddress into paho's broker URL: host:port -> tcp://host:port; tls://, ssl:// and
// mqtts:// -> TLS.
func BrokerURL(address string) (url string, useTLS bool, err error) {
	scheme, hostport, ok := strings.Cut(address, "://")
	if !ok {
		scheme, hostport = "tcp", address
	}
	switch scheme {
	case "tcp", "mqtt":
		scheme = "tcp"
	case "tls", "ssl", "mqtts":
		scheme, useTLS = "ssl", true
	default:
		return "", false, fmt.Errorf("broker address %q: scheme %q is not supported; use host:port or tls://host:port",
			address, scheme)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || port == "" {
		return "", false, fmt.Errorf("broker address %q is not host:port (e.g. 127.0.0.1:1883 or tls://mqtt.example:8883)",
			address)
	}
	return scheme + "://" + hostport, useTLS, nil
}

// NewPublisher starts connecting to the broker in the background and returns at once: a broker that is down at
// start delays events, not dm-manager.
func NewPublisher(cfg MQTTConfig) (*Publisher, error) {
	url, useTLS, err := BrokerURL(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		return nil, errors.New("events: MQTTConfig.Metrics is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PublishTimeout, 10*time.Second)
	def(&cfg.ConnectRetryInterval, 2*time.Second)
	def(&cfg.MaxReconnectInterval, 30*time.Second)
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 4096
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "dm-manager"
	}
	if cfg.ClientID == "" {
		cfg.ClientID = clientID(cfg.Replica)
	}
	log := cfg.Log.With().Str("component", "events").Str("broker", url).Logger()
	p := &Publisher{
		cfg: cfg, buf: newBuffer(sinkMQTT, cfg.BufferSize, cfg.Metrics, log), log: log,
		up: make(chan struct{}), done: make(chan struct{}), stopped: make(chan struct{}),
	}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(cfg.ClientID).
		SetCleanSession(true).SetOrderMatters(false).SetStore(noStore{}).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(cfg.ConnectRetryInterval).SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(cfg.PublishTimeout).SetKeepAlive(30 * time.Second).
		SetOnConnectHandler(func(mqtt.Client) { p.setUp(true) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.setUp(false)
			log.Warn().Err(err).Msg("MQTT broker connection lost; reconnecting, events are buffered")
		})
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	if useTLS {
		t := cfg.TLS
		if t == nil {
			t = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		opts.SetTLSConfig(t)
	}
	p.client = mqtt.NewClient(opts)
	p.client.Connect() // with ConnectRetry it keeps trying in the background; OnConnect says when it is up
	go p.run()
	return p, nil
}

func clientID(replica string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := "dm-manager-" + hex.EncodeToString(b[:])
	if replica != "" {
		id = "dm-manager-" + replica + "-" + hex.EncodeToString(b[:])
	}
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

// Emit implements Sink: it never waits for the broker.
func (p *Publisher) Emit(e Event) { p.buf.Emit(e) }

// Close stops publishing: what is still buffered is counted as dropped, and the client disconnects.
func (p *Publisher) Close() {
	p.once.Do(func() {
		close(p.done)
		<-p.stopped
		p.buf.discardRest()
		p.client.Disconnect(250)
		p.cfg.Metrics.connected.Set(0)
	})
}

func (p *Publisher) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.up: // currently up
		if !up {
			p.up = make(chan struct{})
		}
	default:
		if up {
			close(p.up)
			p.log.Info().Msg("connected to the MQTT broker")
		}
	}
	if up {
		p.cfg.Metrics.connected.Set(1)
	} else {
		p.cfg.Metrics.connected.Set(0)
	}
}

func (p *Publisher) connected() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

func (p *Publisher) run() {
	defer close(p.stopped)
	for {
		e, ok := p.buf.next(p.done)
		if !ok {
			return
		}
		if !p.publish(e) {
			p.cfg.Metrics.dropped.WithLabelValues(sinkMQTT, dropStopped).Inc()
			return
		}
	}
}

// publish sends one event once the broker is connected and waits for its PUBACK (bounded); false means the
// publisher is stopping.
func (p *Publisher) publish(e Event) bool {
	select {
	case <-p.connected():
	case <-p.done:
		return false
	}
	topic := e.Topic(p.cfg.TopicPrefix)
	tok := p.client.Publish(topic, 1, false, PayloadOf(e, uuid.NewString(), p.cfg.Replica).JSON())
	timer := time.NewTimer(p.cfg.PublishTimeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			p.cfg.Metrics.dropped.WithLabelValues(sinkMQTT, dropFailed).Inc()
			p.log.Debug().Err(err).Str("topic", topic).Msg("event not published")
			return true
		}
		p.cfg.Metrics.published.WithLabelValues(sinkMQTT, string(e.Kind)).Inc()
	case <-timer.C:
		p.cfg.Metrics.dropped.WithLabelValues(sinkMQTT, dropFailed).Inc()
		p.log.Debug().Str("topic", topic).Dur("waited", p.cfg.PublishTimeout).Msg("no PUBACK in time; event counted as dropped")
	case <-p.done:
		return false
	}
	return true
}
