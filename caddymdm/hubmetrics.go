package caddymdm

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// hubMetrics are the hub's Prometheus counters, on Caddy's registry (served
// by its metrics endpoint).
type hubMetrics struct {
	downloads *prometheus.CounterVec
	bytes     prometheus.Counter
	refused   prometheus.Counter
}

func newHubMetrics(reg prometheus.Registerer) (*hubMetrics, error) {
	m := &hubMetrics{
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "mdm_hub", Name: "downloads_total",
			Help: "Company hub downloads by HTTP status.",
		}, []string{"status"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "mdm_hub", Name: "bytes_total",
			Help: "Bytes sent by company hub downloads.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "mdm_hub", Name: "refused_total",
			Help: "Company hub downloads refused by the client certificate gate.",
		}),
	}
	var err error
	m.downloads, err = register(reg, m.downloads)
	if err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	m.refused, err = register(reg, m.refused)
	return m, err
}

// register adds a collector, or returns the one a previous handler of the
// same config registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
