package auth

import "net/http"

// HeaderActiveProjectID is the REST header naming the project a request acts for (EMF convention).
const HeaderActiveProjectID = "ActiveProjectID"

// FromRequest validates the request's "Authorization: Bearer" token.
func (v *Verifier) FromRequest(r *http.Request) (*Claims, error) {
	return v.Verify(r.Context(), bearer(r.Header.Get("Authorization")))
}
