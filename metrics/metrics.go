// Package metrics holds Gatehouse's Prometheus metrics: what the HTTP layer
// observes (tokens issued and refused, bearer checks, request latency), the
// latency of every store call, the client cache's counters and the signing
// key's age, plus the Go runtime and process collectors. It is served at
// GET /metrics by the server package.
//
// Every metric lives in a registry of its own rather than Prometheus's
// global one, so that tests and several servers in one process each count
// only their own requests.
//
// No metric is labelled with a client id, a tenant id, a token or a raw
// path: a label value that an API caller chooses would let any caller grow
// the scrape without bound, and client ids in a scrape would tell whoever
// reads it which clients exist.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/service"
)

// Metric names, for the dashboard's test and for anyone who greps.
const (
	TokensIssued          = "gatehouse_tokens_issued_total"
	TokenRequestFailures  = "gatehouse_token_request_failures_total"
	BearerChecks          = "gatehouse_bearer_checks_total"
	HTTPRequestDuration   = "gatehouse_http_request_duration_seconds"
	StoreOperationLatency = "gatehouse_store_operation_duration_seconds"
	ClientCacheHits       = "gatehouse_client_cache_hits_total"
	ClientCacheMisses     = "gatehouse_client_cache_misses_total"
	ClientCacheEntries    = "gatehouse_client_cache_entries"
	SigningKeyAge         = "gatehouse_signing_key_age_seconds"
)

// OutcomeOK is the bearer_checks outcome of a token that was accepted.
const OutcomeOK = "ok"

// httpBuckets span a cached bearer check (well under a millisecond) to a
// token request queued behind a saturated signer (seconds).
var httpBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// storeBuckets span a read from SQLite's page cache (tens of µs) to a write
// that waits for fsync or for PostgreSQL across the network.
var storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Metrics is one server's set of metrics. A nil *Metrics is valid and
// records nothing, so the server needs no checks where metrics are off.
type Metrics struct {
	reg             *prometheus.Registry
	tokensIssued    prometheus.Counter
	tokenFailures   *prometheus.CounterVec
	bearerChecks    *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	storeDuration   *prometheus.HistogramVec
}

// New makes a registry with the Go runtime and process collectors and
// Gatehouse's own metrics. The service's metrics join it with
// ObserveService once the service exists.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		tokensIssued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: TokensIssued,
			Help: "Access tokens issued by the token endpoint.",
		}),
		tokenFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: TokenRequestFailures,
			Help: "Token requests refused, by the OAuth error code of the answer (RFC 6749 5.2).",
		}, []string{"reason"}),
		bearerChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: BearerChecks,
			Help: "Bearer-token checks of the account API, by outcome: ok or the error code of the refusal.",
		}, []string{"outcome"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    HTTPRequestDuration,
			Help:    "Time to answer an HTTP request, by route pattern, method and status code.",
			Buckets: httpBuckets,
		}, []string{"route", "method", "code"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    StoreOperationLatency,
			Help:    "Time of each store call, by Store method.",
			Buckets: storeBuckets,
		}, []string{"op"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.tokensIssued, m.tokenFailures, m.bearerChecks, m.requestDuration, m.storeDuration,
	)
	return m
}

// Registry is the registry every metric is in, for tests and for callers
// that want to add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector that fails must not take the whole scrape with it:
		// the rest is still worth having, and the failure shows as
		// promhttp_metric_handler_errors_total.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// ObserveService adds the metrics that the service keeps itself, read at
// scrape time: the client cache's counters and the signing key's age.
func (m *Metrics) ObserveService(svc *service.Service) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: ClientCacheHits,
			Help: "Client lookups answered from the in-memory client cache.",
		}, func() float64 { return float64(svc.CacheStats().ClientHits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: ClientCacheMisses,
			Help: "Client lookups that read the store (not cached, or the cache is not trusted).",
		}, func() float64 { return float64(svc.CacheStats().ClientMisses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: ClientCacheEntries,
			Help: "Clients held in the in-memory client cache.",
		}, func() float64 { return float64(svc.CacheStats().ClientEntries) }),
		&keyAgeCollector{
			desc: prometheus.NewDesc(SigningKeyAge,
				"Age of the key that signs new tokens. Absent while no key may sign.", nil, nil),
			createdAt: svc.Keys().SigningKeyCreatedAt,
		},
	)
}

// keyAgeCollector reports the signing key's age, and nothing when no key
// signs: any number would be a lie then (0 reads as "just rotated"), while
// a missing series is what absent() alerts on.
type keyAgeCollector struct {
	desc      *prometheus.Desc
	createdAt func() time.Time
}

func (c *keyAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *keyAgeCollector) Collect(ch chan<- prometheus.Metric) {
	created := c.createdAt()
	if created.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, time.Since(created).Seconds())
}

// TokenIssued counts one access token issued.
func (m *Metrics) TokenIssued() {
	if m != nil {
		m.tokensIssued.Inc()
	}
}

// TokenRequestFailed counts one refused token request. reason must be an
// OAuth error code the server wrote, or "canceled" for a caller that left
// before its token was signed, never caller input.
func (m *Metrics) TokenRequestFailed(reason string) {
	if m != nil {
		m.tokenFailures.WithLabelValues(reason).Inc()
	}
}

// BearerChecked counts one bearer check: OutcomeOK or the error code the
// refusal carried, which is one of a fixed set of constants.
func (m *Metrics) BearerChecked(outcome string) {
	if m != nil {
		m.bearerChecks.WithLabelValues(outcome).Inc()
	}
}

// ObserveRequest records how long a request took. route must be a mux
// pattern (or "" when none matched), never the request's path, whose ids
// would make a series per client.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requestDuration.WithLabelValues(route, boundedMethod(method), strconv.Itoa(status)).Observe(d.Seconds())
}

// boundedMethod keeps the method label to the methods HTTP defines: a
// caller may send any token as a method, and each would be a new series.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func (m *Metrics) observeStore(op string, start time.Time) {
	m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
