package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/test/amtsim/httpwire"
)

// The ground rule "no secret in logs, errors or API answers" (style guide) checked on the whole system: every
// dm-manager the suite starts logs at debug level into dmLogs, and what dm-manager answered (REST bodies, gRPC
// error messages, the activation websocket's result messages) goes into answers. Every secret value the suite
// creates or learns is registered with secretSeen; leaks are looked for when each dm-manager stops (the test that
// ran it fails) and once more after all tests (TestSecretsNotLeaked), when every secret is known.
var (
	dmLogs  = newTextLog("dm-manager log")
	answers = newTextLog("dm-manager answer")
	mqttLog = newTextLog("MQTT message") // every event payload the suite's subscribers received
	seen    = newLeakScanner()
)

// minSecretLen: shorter values are too likely to occur by chance (a status code, a word) to be looked for.
const minSecretLen = 6

// secretSeen registers a password, key or token the suite handles.
func secretSeen(kind, value string) { seen.add(kind, value) }

// secretBlobSeen registers a long secret (base64 PFX, PEM private key) by pieces of its middle, so that a part of
// it is found as well as the whole; its start is a DER header shared with public certificates.
func secretBlobSeen(kind, value string) { seen.addBlob(kind, value) }

// textLog is a concurrency-safe record of text lines; as an io.Writer it takes zerolog's one-line events.
type textLog struct {
	name string

	mu      sync.Mutex
	lines   []string
	partial []byte
}

func newTextLog(name string) *textLog { return &textLog{name: name} }

func (l *textLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
}

// add records one entry (it may span lines: a response body).
func (l *textLog) add(entry string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, entry)
}

func (l *textLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.lines)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}

// leakScanner holds every registered secret in the forms it may take in text (needle -> what it is), and
// remembers the leaks already reported so that each is reported once.
type leakScanner struct {
	mu       sync.Mutex
	needles  map[string]string
	reported map[string]bool
}

func newLeakScanner() *leakScanner {
	return &leakScanner{needles: map[string]string{}, reported: map[string]bool{}}
}

func (s *leakScanner) add(kind, value string) {
	if len(value) < minSecretLen {
		return
	}
	forms := [][2]string{
		{"as is", value},
		{"JSON-escaped", jsonEscaped(value)},
		{"query-escaped", url.QueryEscape(value)},
		{"path-escaped", url.PathEscape(value)},
	}
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for _, b := range base64Shifted(enc.enc, value) {
			forms = append(forms, [2]string{enc.name, b})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range forms {
		if _, dup := s.needles[f[1]]; !dup {
			s.needles[f[1]] = kind + " (" + f[0] + ")"
		}
	}
}

// minBase64 is the shortest base64 run looked for; shorter runs of a short password match by chance.
const minBase64 = 8

// base64Shifted is value in base64 at each of the three byte offsets it can have inside a longer encoded text
// (a Basic credential "user:password", a base64 payload holding it): the characters that depend on value alone,
// without the groups it shares with the bytes around it.
func base64Shifted(enc *base64.Encoding, value string) []string {
	var out []string
	for shift := range 3 {
		b := append(make([]byte, shift), value...)
		text := enc.EncodeToString(b)
		from, to := 0, len(b)/3*4
		if shift > 0 {
			from = 4
		}
		if to-from >= minBase64 {
			out = append(out, text[from:to])
		}
	}
	return out
}

// blobPiece is long enough to be unique to one key or PFX, short enough to be found in a truncated dump.
const blobPiece = 40

func (s *leakScanner) addBlob(kind, value string) {
	s.add(kind, value)
	var body []string
	for l := range strings.SplitSeq(value, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
			body = append(body, l)
		}
	}
	if len(body) == 1 { // one base64 string: pieces of it
		b := body[0]
		for _, at := range []int{len(b) / 4, len(b) / 2, len(b) * 3 / 4} {
			if at+blobPiece <= len(b) {
				s.add(kind+" piece", b[at:at+blobPiece])
			}
		}
		return
	}
	// PEM: whole lines, as a log with escaped line breaks would hold them.
	for _, i := range []int{len(body) / 4, len(body) / 2, len(body) * 3 / 4} {
		if len(body[i]) >= blobPiece*3/4 {
			s.add(kind+" piece", body[i])
		}
	}
}

func jsonEscaped(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:]
}

// leak is one registered secret found in a recorded line; line is the line with every secret replaced by ***,
// cut to the part around the first one. It never holds the secret.
type leak struct {
	source string
	index  int
	what   []string
	line   string
}

func (l leak) String() string {
	return fmt.Sprintf("%s #%d holds %s: %s", l.source, l.index, strings.Join(l.what, ", "), l.line)
}

// leakContext is how much of a leaking line is shown on each side of the first hit.
const leakContext = 160

// scan returns the leaks in log not reported before, and marks them reported.
func (s *leakScanner) scan(log *textLog) []leak {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.needles) == 0 {
		return nil
	}
	needles := make([]string, 0, len(s.needles))
	for n := range s.needles {
		needles = append(needles, n)
	}
	// Longest first: the replacer prefers earlier arguments, so a whole secret is masked rather than a piece.
	slices.SortFunc(needles, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(needles))
	for _, n := range needles {
		pairs = append(pairs, n, "***")
	}
	mask := strings.NewReplacer(pairs...)
	var out []leak
	for i, line := range log.snapshot() {
		masked := mask.Replace(line)
		if masked == line {
			continue
		}
		var what []string
		for _, n := range needles {
			if strings.Contains(line, n) && !slices.Contains(what, s.needles[n]) {
				what = append(what, s.needles[n])
			}
		}
		slices.Sort(what)
		key := fmt.Sprintf("%s\x00%d\x00%s", log.name, i, strings.Join(what, ","))
		if s.reported[key] {
			continue
		}
		s.reported[key] = true
		out = append(out, leak{source: log.name, index: i, what: what, line: around(masked, "***")})
	}
	return out
}

// around cuts line to leakContext characters on each side of the first sep.
func around(line, sep string) string {
	at := strings.Index(line, sep)
	from, to := max(0, at-leakContext), min(len(line), at+len(sep)+leakContext)
	out := line[from:to]
	if from > 0 {
		out = "…" + out
	}
	if to < len(line) {
		out += "…"
	}
	return out
}

// requireNoLeaks fails tb with every leak found (not reported before) in dm-manager's logs and answers.
func requireNoLeaks(tb testing.TB) {
	tb.Helper()
	for _, log := range []*textLog{dmLogs, answers, mqttLog} {
		for _, l := range seen.scan(log) {
			tb.Errorf("secret leaked: %s", l)
		}
	}
}

// recordErrors keeps the message of every gRPC error dm-manager's southbound service returns.
func recordErrors(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption,
) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		answers.add("gRPC " + method + ": " + status.Convert(err).Message())
	}
	return err
}

// deviceSecretsSeen registers what dm-manager stored for a device it activated (or was given), including the
// digest HA1 of the admin password, which is as good as the password to an attacker.
func (d *dm) deviceSecretsSeen(tenant string, dev *simDevice) {
	secretSeen("MEBx password (device)", dev.MEBxPassword())
	p, err := secrets.Device(tenant, dev.guid)
	if err != nil {
		return // not a device path: nothing can be stored under it
	}
	m, err := d.sec.Get(context.Background(), p)
	if err != nil {
		return // refused before anything was stored
	}
	secretSeen("AMT admin password", m[secrets.KeyAMTPassword])
	secretSeen("AMT admin digest HA1", httpwire.HA1("admin", dev.DigestRealm(), m[secrets.KeyAMTPassword]))
	secretSeen("MEBx password", m[secrets.KeyMEBxPassword])
	secretSeen("CIRA password", m[secrets.KeyCIRAPassword])
}

func TestLeakScanner(t *testing.T) {
	const (
		password  = `Pa55"w/ord+ü`
		urlUnsafe = "s3cret???>>>~~~" // its base64 has + and /
		token     = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlMmUifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
	)
	pem := "-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n", 2) +
		"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n" +
		"MzEwWhiuGp6k3x7ta4qZ8QxJ0mQmQ2pE6n+0a3Gd1yP4QWbxo/5fYsdhlk92bD1k\n" +
		"-----END PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name, line string
		leaks      []string
	}{
		{"clean", `{"level":"debug","guid":"x","message":"activated"}`, nil},
		{"as is", `password=` + password + ` in a plain-text error`, []string{"test password (as is)"}},
		{"JSON-escaped", `{"level":"debug","error":"bad ` + jsonEscaped(password) + `"}`,
			[]string{"test password (JSON-escaped)"}},
		{"base64 in a header dump", `{"auth":"Basic ` + base64.StdEncoding.EncodeToString([]byte(password)) + `"}`,
			[]string{"test password (base64)"}},
		{"base64 behind a user name", `{"auth":"Basic ` + base64.StdEncoding.EncodeToString([]byte("user:"+password)) +
			`"}`, []string{"test password (base64)"}},
		{"base64 behind one byte", `{"p":"` + base64.StdEncoding.EncodeToString([]byte("x"+password+"y")) + `"}`,
			[]string{"test password (base64)"}},
		{"base64url", `{"p":"` + base64.URLEncoding.EncodeToString([]byte("ab"+urlUnsafe)) + `"}`,
			[]string{"test key text (base64url)"}},
		{"query-escaped", `GET /x?pw=` + url.QueryEscape(password), []string{"test password (query-escaped)"}},
		{"token signature only", `{"sig":"c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"}`, []string{"test token signature (as is)"}},
		{"whole token", `{"authorization":"Bearer ` + token + `"}`,
			[]string{"test token (as is)", "test token signature (as is)"}},
		{"piece of a key", `{"key":"` + strings.Split(pem, "\n")[4] + `\n-----END PRIVATE KEY-----\n"}`,
			[]string{"test key piece (as is)"}},
		{"short values are not secrets", `{"n":"12345"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := newLeakScanner(), newTextLog("test log")
			s.add("test password", password)
			s.add("test token", token)
			s.add("test token signature", token[strings.LastIndexByte(token, '.')+1:])
			s.add("test short", "12345")
			s.add("test key text", urlUnsafe)
			s.addBlob("test key", pem)
			_, _ = fmt.Fprintln(log, `{"level":"info","message":"before"}`)
			_, _ = fmt.Fprintln(log, tc.line)

			found := s.scan(log)
			if tc.leaks == nil {
				require.Empty(t, found)
				return
			}
			require.Len(t, found, 1)
			require.Equal(t, 1, found[0].index)
			for _, want := range tc.leaks {
				require.Contains(t, found[0].what, want)
			}
			report := found[0].String()
			require.Contains(t, report, "***")
			for n := range s.needles {
				require.NotContains(t, report, n, "the report never shows a secret")
			}
			require.Empty(t, s.scan(log), "each leak is reported once")
		})
	}
}

func TestAroundCutsLongLines(t *testing.T) {
	line := strings.Repeat("a", 500) + "***" + strings.Repeat("b", 500)
	got := around(line, "***")
	require.Equal(t, "…"+strings.Repeat("a", leakContext)+"***"+strings.Repeat("b", leakContext)+"…", got)
}

// TestSecretsNotLeaked runs last (its file sorts last): by now every secret of every test is registered, so a
// secret that one test's dm-manager logged and only a later test learned is found too. It scans what the other
// tests recorded, so alone (no dm-manager run, no secret registered) it fails rather than pass having looked at
// nothing.
func TestSecretsNotLeaked(t *testing.T) {
	lines, secretForms := len(dmLogs.snapshot())+len(answers.snapshot()), seen.count()
	require.Positive(t, secretForms, "no secret was registered: run this test with the suite (go test ./test/e2e), "+
		"it scans what the other tests' dm-managers logged and answered")
	require.Positive(t, lines, "no dm-manager log line or answer was recorded: run this test with the suite")
	requireNoLeaks(t)
	t.Logf("scanned %d dm-manager log lines, %d answers and %d MQTT messages for %d secret forms",
		len(dmLogs.snapshot()), len(answers.snapshot()), len(mqttLog.snapshot()), secretForms)
}

func (s *leakScanner) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.needles)
}
