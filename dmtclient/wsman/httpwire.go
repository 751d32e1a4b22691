package wsman

import "strconv"

// appendRequest writes one WS-Man POST (§8.1: Authorization first when present, then Host, Content-Type,
// Content-Length as the UTF-8 byte count). closeConn adds `Connection: close` for one-shot transports.
func appendRequest(dst []byte, host, authorization string, body []byte, closeConn bool) []byte {
	dst = append(dst, "POST /wsman HTTP/1.1\r\n"...)
	if authorization != "" {
		dst = append(dst, "Authorization: "...)
		dst = append(dst, authorization...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Host: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}
