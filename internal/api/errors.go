package api

import (
	"encoding/json"
	"net/http"
)

// Error bodies follow the service each route stands in for (protocol-rps-activation §3.6 for domains,
// protocol-cira-wsman §11.1 for devices), so EMF's UI and orch-cli read them unchanged:
//
//	RPS-style: {"error": "<reason>", "message": "<text>"}; validation: {"errors": [fieldError…]}
//	MPS-style: {"error": "<reason or MPS text>", "errorDescription": "<text>"}

// fieldError is one express-validator item. Value is set only for fields that are not secret.
type fieldError struct {
	Type     string `json:"type"`
	Value    string `json:"value,omitempty"`
	Msg      string `json:"msg"`
	Path     string `json:"path"`
	Location string `json:"location"`
}

func bodyField(path, msg string) fieldError {
	return fieldError{Type: "field", Msg: msg, Path: path, Location: "body"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// writeError writes an RPS-style error; the reason is the HTTP status text.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": http.StatusText(status), "message": msg})
}

// writeValidation writes express-validator errors, the echoed values clipped to maxEcho characters.
func writeValidation(w http.ResponseWriter, errs ...fieldError) {
	for i := range errs {
		errs[i].Value = clip(errs[i].Value)
	}
	writeJSON(w, http.StatusBadRequest, map[string][]fieldError{"errors": errs})
}

// writeMPSError writes an MPS-style error.
func writeMPSError(w http.ResponseWriter, status int, reason, description string) {
	writeJSON(w, status, map[string]string{"error": reason, "errorDescription": description})
}
