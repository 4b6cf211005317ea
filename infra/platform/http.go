package platform

import (
	"context"
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
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("JETSYNC_HTTP_ADDR=%s: %w (set another address, or empty for no endpoints)", c.HTTPAddr, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go serveHTTP(ctx, ln, reg, ready, log)
	return stop, nil
}

func serveHTTP(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ready func() error, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
