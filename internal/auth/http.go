package auth

import (
	"encoding/json"
	"errors"
	"net/http"
)

// HeaderActiveProjectID is the REST header naming the project a request acts for (EMF convention).
const HeaderActiveProjectID = "ActiveProjectID"

// FromRequest validates the request's "Authorization: Bearer" token.
func (v *Verifier) FromRequest(r *http.Request) (*Claims, error) {
	return v.Verify(r.Context(), bearer(r.Header.Get("Authorization")))
}

// Middleware authenticates every request and stores the claims in its context; a request without a valid token
// gets 401 and never reaches next. Role checks (403) belong to the handlers, which know the tenant.
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.FromRequest(r)
			if err != nil {
				WriteHTTPError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

// HTTPStatus maps ErrUnauthenticated to 401, ErrForbidden to 403 and anything else to 500.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// WriteHTTPError writes an auth error as JSON {"message": ...}; a 401 carries the WWW-Authenticate challenge of
// RFC 6750 so clients know to send a bearer token.
func WriteHTTPError(w http.ResponseWriter, err error) {
	code := HTTPStatus(err)
	switch {
	case errors.Is(err, errNoToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="dm-manager"`)
	case code == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="dm-manager", error="invalid_token"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}
