package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim"
)

// deviceView is one device in the control API.
type deviceView struct {
	amtsim.State
	Activation       string             `json:"activation,omitempty"`
	ActivationStatus string             `json:"activationStatus,omitempty"`
	ActivationTime   string             `json:"activationTime,omitempty"`
	CIRALinkUp       bool               `json:"ciraLinkUp"`
	CIRA             *amtsim.CIRAConfig `json:"cira,omitempty"`
}

func (r *runner) view(rec *record, withCIRA bool) deviceView {
	outcome, status, dur := rec.get()
	v := deviceView{State: rec.d.State(), Activation: outcome, ActivationStatus: status, CIRALinkUp: rec.linkUp.Load()}
	if dur > 0 {
		v.ActivationTime = dur.Round(time.Millisecond).String()
	}
	if withCIRA {
		c := rec.d.CIRA()
		v.CIRA = &c
	}
	return v
}

// importRow is one line of the file "dm-manager devices import" reads: the device and
// the secrets the server needs to accept its CIRA login and manage it.
type importRow struct {
	GUID         string `json:"guid"`
	Tenant       string `json:"tenant"`
	CIRAUsername string `json:"cira_username"`
	CIRAPassword string `json:"cira_password"`
	AMTPassword  string `json:"amt_password"`
}

// importRows lists devices whose CIRA is configured. The AMT password is known only
// when it is -amtPassword (AMT keeps a hash of it).
func (r *runner) importRows() []importRow {
	var rows []importRow
	for _, rec := range r.recs {
		c := rec.d.CIRA()
		s, _, ok := c.Periodic()
		if !ok || !c.Configured() {
			continue
		}
		row := importRow{GUID: rec.d.GUID().String(), Tenant: r.o.tenant, CIRAUsername: s.Username, CIRAPassword: s.Password}
		if r.o.amtPassword != "" && rec.d.AdminPasswordIs(r.o.amtPassword) {
			row.AMTPassword = r.o.amtPassword
		}
		rows = append(rows, row)
	}
	return rows
}

// serveControl runs the loopback control API until ctx ends:
//
//	GET  /devices                       all devices with state and activation outcome
//	GET  /devices/{guid}                one device, with its CIRA settings (no passwords) and recovery state
//	                                    (bootOverride, lastBootTarget, lastBootCause, boots, httpsBootURL, erase, alarms)
//	POST /devices/{guid}/power-button   ?long=true holds the button (forced off)
//	POST /devices/{guid}/network        ?up=false cuts AMT's network, ?up=true restores it
//	POST /devices/{guid}/os             ?hung=true hangs the OS, ?hung=false revives it
//	POST /devices/{guid}/unprovision    ?blocked=true makes AMT refuse Unprovision (2076), ?blocked=false lifts it
//	POST /devices/{guid}/activate       runs the activation again
//	GET  /import.csv, /import.json      devices import file for CIRA-configured devices
//	GET  /summary                       the summary text
func (r *runner) serveControl(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, _ *http.Request) {
		out := make([]deviceView, len(r.recs))
		for i, rec := range r.recs {
			out[i] = r.view(rec, false)
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /devices/{guid}", r.withDevice(func(w http.ResponseWriter, _ *http.Request, rec *record) {
		writeJSON(w, r.view(rec, true))
	}))
	mux.HandleFunc("POST /devices/{guid}/power-button", r.withDevice(func(w http.ResponseWriter, q *http.Request, rec *record) {
		long, err := boolParam(q, "long", false)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.d.PressPowerButton(long)
		writeJSON(w, r.view(rec, false))
	}))
	mux.HandleFunc("POST /devices/{guid}/network", r.withDevice(func(w http.ResponseWriter, q *http.Request, rec *record) {
		up, err := boolParam(q, "up", true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.d.SetReachable(up)
		writeJSON(w, r.view(rec, false))
	}))
	mux.HandleFunc("POST /devices/{guid}/os", r.withDevice(func(w http.ResponseWriter, q *http.Request, rec *record) {
		hung, err := boolParam(q, "hung", true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.d.SetOSHung(hung)
		writeJSON(w, r.view(rec, false))
	}))
	mux.HandleFunc("POST /devices/{guid}/unprovision", r.withDevice(func(w http.ResponseWriter, q *http.Request, rec *record) {
		blocked, err := boolParam(q, "blocked", true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.d.BlockUnprovision(blocked)
		writeJSON(w, r.view(rec, false))
	}))
	mux.HandleFunc("POST /devices/{guid}/activate", r.withDevice(func(w http.ResponseWriter, q *http.Request, rec *record) {
		if r.o.activationURL == "" {
			http.Error(w, "amtsim runs without -activationURL", http.StatusConflict)
			return
		}
		r.activate(q.Context(), rec)
		writeJSON(w, r.view(rec, false))
	}))
	mux.HandleFunc("GET /import.json", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, r.importRows()) })
	mux.HandleFunc("GET /import.csv", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"guid", "tenant", "cira_username", "cira_password", "amt_password"})
		for _, row := range r.importRows() {
			_ = cw.Write([]string{row.GUID, row.Tenant, row.CIRAUsername, row.CIRAPassword, row.AMTPassword})
		}
		cw.Flush()
	})
	mux.HandleFunc("GET /summary", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		r.summary(w, 0)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		r.log.Error().Err(err).Msg("control API stopped")
	}
}

func (r *runner) withDevice(h func(http.ResponseWriter, *http.Request, *record)) http.HandlerFunc {
	return func(w http.ResponseWriter, q *http.Request) {
		d, ok := r.fleet.Lookup(q.PathValue("guid"))
		if !ok {
			http.Error(w, "no device "+q.PathValue("guid"), http.StatusNotFound)
			return
		}
		h(w, q, r.byGUID[d.GUID().String()])
	}
}

func boolParam(q *http.Request, name string, def bool) (bool, error) {
	v := q.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("query parameter " + name + " must be true or false")
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
