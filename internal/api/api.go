// Package api is dm-manager's tenant-facing REST API: the RPS domain (provisioning certificate) routes and the
// MPS device routes EMF's web UI and orch-cli call through the API gateway under
// /v1/projects/{project}/dm/ (emf-conventions §7), with RPS's and MPS's JSON field names, status codes and error
// bodies (protocol-rps-activation §3.3, §3.6; protocol-cira-wsman §11). The spec is openapi.yaml, served at
// /openapi.yaml.
//
// Every route is tenant-scoped: the tenant is the {project} path segment (a UUID, or a name resolved through the
// ActiveProjectID header or the Tenant Manager), and the bearer token must hold <tenant>_im-rw to write or
// <tenant>_im-r / _im-rw to read (emf-conventions §5).
package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Prefix is where the tenant routes live; the gateway forwards these paths unchanged.
const Prefix = "/v1/projects/{project}/dm"

// Defaults for Options.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxBodyBytes   = 64 << 10 // a PFX with a four-certificate chain is ~10 KiB, ~14 KiB in base64
)

// Options wires the API to the rest of the program.
type Options struct {
	Domains  DomainStore     // required; StoreDomains(*store.Store)
	Profiles ProfileStore    // required; *store.Store
	Secrets  SecretStore     // required; secrets.Store
	Devices  DeviceDirectory // required; *store.Store
	AMT      DeviceAMT       // required; implemented by internal/app over the CIRA gateway
	Projects ProjectResolver // optional; without it project names must come with an ActiveProjectID header
	Events   EventLog        // optional: the audit trail (GET /dm/events answers 503 without it)
	// Journal records recovery power actions (recovery.go); without it those routes answer 503.
	Journal RecoveryJournal
	// Audit receives recovery actions as device events; nil logs them.
	Audit Auditor

	// Verifier checks bearer tokens; required unless AuthDisabled.
	Verifier TokenVerifier
	// AuthDisabled turns off token and role checks (tests, demo). Logged as a warning at start.
	AuthDisabled bool

	RequestTimeout time.Duration // per request, including device calls; DefaultRequestTimeout when 0
	MaxBodyBytes   int64         // request body limit; DefaultMaxBodyBytes when 0
	Now            func() time.Time
	Log            zerolog.Logger
}

type server struct {
	Options
}

// permission a route needs.
type permission int

const (
	permRead permission = iota
	permWrite
)

type route struct {
	method, path string // path below Prefix
	perm         permission
	handle       func(http.ResponseWriter, *http.Request, *call)
}

// call is what every tenant handler gets: the resolved tenant and a logger carrying it.
type call struct {
	tenant string
	base   *zerolog.Logger
	log    *zerolog.Logger // the request's logger, made on first use: most requests log nothing
}

// logger returns the request's logger, naming its tenant.
func (c *call) logger() *zerolog.Logger {
	if c.log == nil {
		l := c.base.With().Str("tenant", c.tenant).Logger()
		c.log = &l
	}
	return c.log
}

// NewHandler checks opts and returns the API's handler.
func NewHandler(opts Options) (http.Handler, error) {
	s, mux, err := newMux(opts)
	if err != nil {
		return nil, err
	}
	// Around the whole mux, so the spec routes and noRoute are covered as well as the tenant routes.
	return s.recoverRequest(mux), nil
}

// newMux checks opts and routes every path; NewHandler adds the panic recovery around it.
func newMux(opts Options) (*server, *http.ServeMux, error) {
	switch {
	case opts.Domains == nil, opts.Profiles == nil, opts.Secrets == nil, opts.Devices == nil, opts.AMT == nil:
		return nil, nil, errors.New("api: Domains, Profiles, Secrets, Devices and AMT are required")
	case opts.Verifier == nil && !opts.AuthDisabled:
		return nil, nil, errors.New("api: a token verifier is required unless authentication is disabled (-enableAuth=false)")
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Log = opts.Log.With().Str("component", "api").Logger()
	if opts.AuthDisabled {
		opts.Log.Warn().Msg("REST API AUTHENTICATION IS DISABLED: every caller may read and change every project's " +
			"domains and devices; use only for tests and demos")
	}
	s := &server{Options: opts}
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		mux.Handle(rt.method+" "+Prefix+rt.path, s.wrap(rt))
	}
	mux.HandleFunc("GET /openapi.yaml", serveSpec)
	mux.HandleFunc("GET /asyncapi.yaml", serveAsyncAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { noRoute(mux, w, r) })
	return s, mux, nil
}

// noRoute answers requests no route takes, in JSON: 405 with Allow when the path exists for other methods
// (the catch-all pattern keeps ServeMux from doing that itself), 404 otherwise.
func noRoute(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, clip(r.Method)+" is not allowed on "+clip(r.URL.Path))
		return
	}
	writeError(w, http.StatusNotFound, "no route for "+clip(r.Method)+" "+clip(r.URL.Path)+"; see /openapi.yaml")
}

// routeTable lists every tenant route; openapi_test.go checks it against openapi.yaml.
func (s *server) routeTable() []route {
	routes := []route{
		{http.MethodGet, "/amt/admin/domains", permRead, s.listDomains},
		{http.MethodPost, "/amt/admin/domains", permWrite, s.createDomain},
		{http.MethodPatch, "/amt/admin/domains", permWrite, s.updateDomain},
		{http.MethodGet, "/amt/admin/domains/{profileName}", permRead, s.getDomain},
		{http.MethodDelete, "/amt/admin/domains/{profileName}", permWrite, s.deleteDomain},
		{http.MethodGet, "/amt/admin/profiles", permRead, s.listProfiles},
		{http.MethodPatch, "/amt/admin/profiles", permWrite, s.updateProfile},
		{http.MethodGet, "/amt/admin/profiles/{profileName}", permRead, s.getProfile},
		{http.MethodGet, "/devices/{guid}", permRead, s.getDevice},
		{http.MethodGet, "/amt/generalSettings/{guid}", permRead, s.generalSettings},
		{http.MethodGet, "/amt/version/{guid}", permRead, s.version},
		{http.MethodGet, "/amt/hardwareInfo/{guid}", permRead, s.hardwareInfo},
		{http.MethodGet, "/amt/log/audit/{guid}", permRead, s.auditLog},
		{http.MethodGet, "/amt/power/capabilities/{guid}", permRead, s.powerCapabilities},
	}
	routes = append(routes, s.eventLogRoutes()...)
	routes = append(routes, s.eventRoutes()...)
	routes = append(routes, s.recoveryRoutes()...)
	return routes
}

// NewServer returns an http.Server for h with timeouts that bound slow clients; device calls are bounded by
// Options.RequestTimeout, which WriteTimeout leaves room for.
func NewServer(addr string, h http.Handler, requestTimeout time.Duration) *http.Server {
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      requestTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// wrap runs the checks every tenant route shares, in the order that leaks least: token (401), tenant (400/404),
// role in that tenant (403), then the handler with the request timeout and a body limit. A panic anywhere in it
// costs this request only (recoverRequest, around the mux).
func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)

		claims, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		tenant, ok := s.tenant(w, r)
		if !ok {
			return
		}
		if !s.authorize(r.Context(), w, claims, tenant, rt.perm) {
			return
		}
		c := &call{tenant: tenant, base: &s.Log}
		rt.handle(w, r, c)
	})
}
