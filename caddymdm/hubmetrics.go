package caddymdm

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// hubMetrics are the hub's Prometheus counters, on Caddy's registry (served
// by its metrics endpoint). As the services' metrics (metrics.go), one set
// lives for the whole process and is registered on every config's
// registry, so a reload does not reset them.
type hubMetrics struct {
	downloads *prometheus.CounterVec
	bytes     prometheus.Counter
	refused   prometheus.Counter
}

var (
	processHubMetrics     *hubMetrics
	processHubMetricsOnce sync.Once
)

// hubMetricsOn returns the process's hub counters, registered on reg.
func hubMetricsOn(reg prometheus.Registerer) (*hubMetrics, error) {
	processHubMetricsOnce.Do(func() { processHubMetrics = newHubMetrics() })
	m := processHubMetrics
	for _, c := range []prometheus.Collector{m.downloads, m.bytes, m.refused} {
		if err := register(reg, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newHubMetrics() *hubMetrics {
	return &hubMetrics{
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
}

// register adds one of the process's collectors to a config's registry.
// Registering it again on the same registry (a second handler of one
// config) is no error; another collector of the same name is.
func register(reg prometheus.Registerer, c prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) && are.ExistingCollector == c {
		return nil
	}
	return err
}
