package platform

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPConfig is the address of the process's metrics and health endpoints.
type HTTPConfig struct {
	// HTTPAddr serves /metrics, /healthz and /readyz, e.g. ":8080"; empty:
	// none. The container images set :8080.
	HTTPAddr string `split_words:"true"`
	// HTTPUser and HTTPPassword (or HTTPPasswordFile, read at every
	// request) require HTTP basic authentication for /metrics; /healthz
	// and /readyz stay open for probes. Bind HTTPAddr to 127.0.0.1 to keep
	// all three off the network instead.
	HTTPUser         string `split_words:"true"`
	HTTPPassword     Secret `split_words:"true"`
	HTTPPasswordFile string `split_words:"true"`
}

func (c HTTPConfig) password() SecretSource {
	return SecretSource{Name: "JETSYNC_HTTP_PASSWORD", Literal: c.HTTPPassword, File: c.HTTPPasswordFile}
}

// Validate checks that basic authentication has both a user and a password.
func (c HTTPConfig) Validate() error {
	if err := c.password().Validate(); err != nil {
		return err
	}
	if c.HTTPUser == "" && (c.HTTPPassword != "" || c.HTTPPasswordFile != "") {
		return fmt.Errorf("JETSYNC_HTTP_PASSWORD is set but JETSYNC_HTTP_USER is not")
	}
	if c.HTTPUser != "" && c.HTTPPassword == "" && c.HTTPPasswordFile == "" {
		return fmt.Errorf("JETSYNC_HTTP_USER is set but neither JETSYNC_HTTP_PASSWORD nor JETSYNC_HTTP_PASSWORD_FILE is")
	}
	return nil
}

// NewRegistry returns a Prometheus registry with the Go and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetsync_build_info", Help: "1, labelled with the build's version (module version, VCS revision, Go).",
		ConstLabels: prometheus.Labels{"version": Version()}})
	build.Set(1)
	reg.MustRegister(build)
	return reg
}

// Serve binds HTTPAddr now (so that a port in use stops the process at
// start with a message naming the variable) and serves, until stop is
// called: /metrics from reg, /healthz (200 while the process runs) and
// /readyz (200 when ready returns nil, else 503 with its error). With no
// HTTPAddr it serves nothing.
func (c HTTPConfig) Serve(reg *prometheus.Registry, ready func() error, log *slog.Logger) (stop func(), err error) {
	if c.HTTPAddr == "" {
		return func() {}, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("JETSYNC_HTTP_ADDR=%s: %w (set another address, or empty for no endpoints)", c.HTTPAddr, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go c.serveHTTP(ctx, ln, reg, ready, log)
	return stop, nil
}

func (c HTTPConfig) serveHTTP(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ready func() error, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", c.basicAuth(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), log))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("serving metrics and health", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("http server", "err", err)
	}
}

// basicAuth guards h with HTTP basic authentication when HTTPUser is set;
// the password is read for every request, so a rotated file applies at once.
func (c HTTPConfig) basicAuth(h http.Handler, log *slog.Logger) http.Handler {
	if c.HTTPUser == "" {
		return h
	}
	pw := c.password()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want, err := pw.Read()
		if err != nil {
			log.Error("metrics password", "err", err)
			http.Error(w, "metrics password unreadable", http.StatusInternalServerError)
			return
		}
		user, got, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(c.HTTPUser)) != 1 ||
			subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="jetsync metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
