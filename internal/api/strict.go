package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/metrics"
)

// maxEcho is how much of a caller's input an error answer repeats; the rest is cut off with "…".
const maxEcho = 64

// MaxTop is the largest $top a list accepts (openapi.yaml says so); a larger one is a 400, not a silent clamp.
const MaxTop = 500

// clip shortens s to maxEcho characters for an error answer, marking the cut with "…".
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxEcho {
		return s
	}
	r := []rune(s)
	return string(r[:maxEcho]) + "…"
}

// clipIn replaces the input in msg, raw or quoted, with its clipped form.
func clipIn(msg, input string) string {
	if utf8.RuneCountInString(input) <= maxEcho {
		return msg
	}
	msg = strings.ReplaceAll(msg, strconv.Quote(input), strconv.Quote(clip(input)))
	return strings.ReplaceAll(msg, input, clip(input))
}

// recoverRequest makes a panic in one request cost that request only: 500 (if nothing was sent yet), an error
// line with the stack, and dm_manager_panics_recovered_total{component="rest"}.
func (s *server) recoverRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer metrics.RecoverPanicLazy("rest", func() *zerolog.Logger {
			log := s.Log.With().Str("method", r.Method).Str("path", clip(r.URL.Path)).Logger()
			return &log
		}, func(any) {
			writeError(w, http.StatusInternalServerError, "Internal error while serving the request; it was not "+
				"completed. Retry it; if it fails again, report it with the time of the request.")
		})
		next.ServeHTTP(w, r)
	})
}

// canonicalUUID reports whether s is a UUID in its canonical form: 36 characters, lower-case hex, no braces or
// urn:uuid: prefix. Other spellings of a UUID are refused rather than mapped, so one resource has one path.
func canonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// decodeBody reads one JSON object: 415 unless the body is declared application/json, 413 when too big, 408 when
// it does not arrive in time, 400 for anything unreadable or for data after the object.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeJSON(w, r, v, false)
}

// decodeStrictBody is decodeBody refusing fields v does not have (400 naming the field).
func decodeStrictBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeJSON(w, r, v, true)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any, strict bool) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("The request body must be JSON sent with "+
			"Content-Type: application/json (got %q).", clip(r.Header.Get("Content-Type"))))
		return false
	}
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		// One object only: anything but white space after it is refused rather than ignored.
		if dec.Decode(&json.RawMessage{}) == io.EOF {
			return true
		}
		err = errTrailingData
	}
	var tooBig *http.MaxBytesError
	var ne net.Error
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes; "+
			"a provisioning certificate PFX should be a few KiB.", tooBig.Limit))
	case errors.As(err, &ne) && ne.Timeout():
		// The error names the sockets; the caller is told only what happened.
		writeError(w, http.StatusRequestTimeout, "The request body did not arrive in time; send it at once after "+
			"the headers.")
	case strict && strings.HasPrefix(err.Error(), "json: unknown field "):
		// The message names the field (clipped), never a value.
		writeValidation(w, bodyField("", clip(err.Error())+" (only the fields in /openapi.yaml can be set)"))
	case errors.Is(err, errTrailingData), errors.As(err, &syntax), errors.As(err, &typ),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// json's messages name offsets, fields and types, never values.
		writeValidation(w, bodyField("", "The request body is not a valid JSON object: "+err.Error()))
	default:
		writeValidation(w, bodyField("", "The request body could not be read; send it again."))
	}
	return false
}

var errTrailingData = errors.New("data after the JSON object; send exactly one object")
