package store

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reports the store's connection pools on /metrics, read
// from pgxpool's own counters at each scrape: nothing is counted on the
// calls' path.
type poolCollector struct {
	pools                                    map[string]*pgxpool.Pool
	conns, max, acquires, waits, waitSeconds *prometheus.Desc
	canceled, acquireSeconds                 *prometheus.Desc
}

// Collector is a prometheus.Collector of the store's pools: "main" for
// the calls, "batch" for the shared statements (audit group commit, shared
// lookups).
func (s *Store) Collector() prometheus.Collector {
	labels := []string{"pool"}
	return &poolCollector{
		pools: map[string]*pgxpool.Pool{"main": s.Pool, "batch": s.batch},
		conns: prometheus.NewDesc("sinergi_db_pool_connections",
			"Connections of the database pool, by state: in_use (acquired), idle, constructing.", []string{"pool", "state"}, nil),
		max: prometheus.NewDesc("sinergi_db_pool_max_connections", "The most connections the pool opens.", labels, nil),
		acquires: prometheus.NewDesc("sinergi_db_pool_acquires_total",
			"Connections acquired from the pool.", labels, nil),
		waits: prometheus.NewDesc("sinergi_db_pool_acquire_waits_total",
			"Acquires that found no idle connection and waited for one (to be returned or opened).", labels, nil),
		waitSeconds: prometheus.NewDesc("sinergi_db_pool_acquire_wait_seconds_total",
			"Time spent by acquires waiting for a connection.", labels, nil),
		canceled: prometheus.NewDesc("sinergi_db_pool_acquires_canceled_total",
			"Acquires given up by their caller (deadline or cancellation) before a connection came.", labels, nil),
		acquireSeconds: prometheus.NewDesc("sinergi_db_pool_acquire_seconds_total",
			"Time spent acquiring connections, waits included.", labels, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.max, c.acquires, c.waits, c.waitSeconds, c.canceled, c.acquireSeconds} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, p := range c.pools {
		if p == nil {
			continue
		}
		st := p.Stat()
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.AcquiredConns()), name, "in_use")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.IdleConns()), name, "idle")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.ConstructingConns()), name, "constructing")
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxConns()), name)
		ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(st.AcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(st.EmptyAcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, st.EmptyAcquireWaitTime().Seconds(), name)
		ch <- prometheus.MustNewConstMetric(c.canceled, prometheus.CounterValue, float64(st.CanceledAcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(c.acquireSeconds, prometheus.CounterValue, st.AcquireDuration().Seconds(), name)
	}
}
