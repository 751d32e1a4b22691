package api

import (
	_ "embed"
	"net/http"
)

// spec is the hand-written OpenAPI 3 description of every route; openapi_test.go keeps it and the mux in step.
//
//go:embed openapi.yaml
var spec []byte

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(spec)
}
