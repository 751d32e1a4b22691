package amt

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// device answers each relayed request with the next canned envelope, the way rpc-go relays AMT's answer
// (wsman.RelayDialer); it records the envelopes it was sent.
type device struct {
	t        *testing.T
	answers  []string
	requests []string
}

var requestMessageID = regexp.MustCompile(`<a:MessageID>([0-9]+)</a:MessageID>`)

func newDevice(t *testing.T, answers ...string) (*Client, *device) {
	d := &device{t: t, answers: answers}
	ws, err := wsman.New(wsman.Config{
		Dialer: wsman.RelayDialer(wsman.ExchangerFunc(d.exchange)), Host: "guid:16992",
		Username: "admin", Password: "P@ssw0rd", DisableKeepAlive: true,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = ws.Close()
		require.Empty(t, d.answers, "unused answers")
	})
	return New(ws), d
}

func (d *device) exchange(_ context.Context, request []byte) ([]byte, error) {
	_, body, ok := bytes.Cut(request, []byte("\r\n\r\n"))
	require.True(d.t, ok)
	d.requests = append(d.requests, string(body))
	require.NotEmpty(d.t, d.answers, "unexpected request %s", body)
	answer := d.answers[0]
	d.answers = d.answers[1:]
	id := requestMessageID.FindSubmatch(body)
	require.NotNil(d.t, id)
	xml := strings.ReplaceAll(answer, "{ID}", string(id[1]))
	status := "200 OK"
	if strings.Contains(xml, ":Fault>") {
		status = "400 Bad Request"
	}
	// AMT's framing (§8.2): chunked, 4-digit uppercase sizes, split mid-element.
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", status)
	for rest := xml; rest != ""; {
		n := min(0x220, len(rest))
		fmt.Fprintf(&b, "%04X\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	b.WriteString("0\r\n\r\n")
	return []byte(b.String()), nil
}

// docEnvelope fills the request template of protocol-rps-activation §7.8 (MessageID N).
func docEnvelope(action, resource, selectors, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">` +
		`<Header><a:Action>` + action + `</a:Action><a:To>/wsman</a:To><w:ResourceURI>` + resource +
		`</w:ResourceURI><a:MessageID>N</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>` +
		selectors + `</Header><Body>` + body + `</Body></Envelope>`
}

// requireRequest compares request i byte for byte with the doc template, MessageID normalised.
func (d *device) requireRequest(i int, action, resource, selectors, body string) {
	d.t.Helper()
	require.Greater(d.t, len(d.requests), i)
	got := requestMessageID.ReplaceAllString(d.requests[i], "<a:MessageID>N</a:MessageID>")
	require.Equal(d.t, docEnvelope(action, resource, selectors, body), got)
}

// amtResp builds an AMT response (prefixes as §9.2) whose RelatesTo is the request's MessageID.
func amtResp(action, resource, body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:g="` +
		resource + `" xmlns:h="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>{ID}</b:RelatesTo><b:Action a:mustUnderstand="true">` +
		action + `</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-000000000001</b:MessageID><c:ResourceURI>` + resource +
		`</c:ResourceURI></a:Header><a:Body>` + body + `</a:Body></a:Envelope>`
}

// output answers a method call with `<g:METHOD_OUTPUT>…<g:ReturnValue>rv</g:ReturnValue>`.
func output(resource, method, extra string, rv int) string {
	return amtResp(resource+"/"+method+"Response", resource,
		fmt.Sprintf(`<g:%s_OUTPUT>%s<g:ReturnValue>%d</g:ReturnValue></g:%s_OUTPUT>`, method, extra, rv, method))
}

func getResp(resource, instance string) string {
	return amtResp(wsman.ActionGet+"Response", resource, instance)
}

func enumerateResp(resource string) string {
	return amtResp(wsman.ActionEnumerate+"Response", resource,
		`<g:EnumerateResponse xmlns:g="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><g:EnumerationContext>5E1A0000-0000-0000-0000-000000000000</g:EnumerationContext></g:EnumerateResponse>`)
}

func pullResp(resource, items string) string {
	return amtResp(wsman.ActionPull+"Response", resource,
		`<g:PullResponse xmlns:g="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><g:Items>`+items+`</g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>`)
}

const (
	enumerateBody = `<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" />`
	pullBody      = `<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>5E1A0000-0000-0000-0000-000000000000</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>`
)

// requireEnumeration checks requests i and i+1 are the generic Enumerate and Pull of resource.
func (d *device) requireEnumeration(i int, resource string) {
	d.t.Helper()
	d.requireRequest(i, wsman.ActionEnumerate, resource, "", enumerateBody)
	d.requireRequest(i+1, wsman.ActionPull, resource, "", pullBody)
}
