package audit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writerMetrics are the audit writer's on /metrics: how many records wait,
// how large the batches are, how long their commits take, and how many
// records could not be written (their calls failed closed).
type writerMetrics struct {
	batch    prometheus.Histogram
	flush    prometheus.Histogram
	failures prometheus.Counter
}

// Instrument registers the writer's metrics on reg. Call it before the
// writer takes records.
func (w *Writer) Instrument(reg prometheus.Registerer) {
	m := &writerMetrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sinergi_audit_batch_records",
			Help:    "Records per audit batch, one statement and one commit each.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}}),
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sinergi_audit_flush_seconds",
			Help:    "Time to write and commit one audit batch, the wait every call in it shares.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 5}}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "sinergi_audit_write_failures_total",
			Help: "Audit records the writer could not commit: each one's call failed (UNAVAILABLE) and returned nothing."}),
	}
	depth := func(lane string, q chan *pending) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sinergi_audit_queue_depth",
			Help:        "Audit records sealed and waiting for a batch, by lane (calls: calls and live streams; later: streams whose consumers are behind).",
			ConstLabels: prometheus.Labels{"lane": lane}}, func() float64 { return float64(len(q)) })
	}
	reg.MustRegister(m.batch, m.flush, m.failures, depth("calls", w.queue), depth("later", w.later))
	w.metrics.Store(m)
}

// observe records one batch's write (records 0: only failures, of a
// batch taken apart).
func (w *Writer) observe(records int, took time.Duration, failed int) {
	m := w.metrics.Load()
	if m == nil {
		return
	}
	if records > 0 {
		m.batch.Observe(float64(records))
		m.flush.Observe(took.Seconds())
	}
	if failed > 0 {
		m.failures.Add(float64(failed))
	}
}
