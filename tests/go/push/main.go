// Pushes fixed metrics with client_golang's push package, the Go client
// most Pushgateway users push with, so that pushgate's tests can check
// what it really sends (URL, grouping key encoding, method, body format)
// rather than what we believe it sends.
//
// Built offline by tests/support/go_client.rs from Debian's packaged
// sources (GOPATH mode, GO111MODULE=off GOPATH=/usr/share/gocode): it
// imports nothing that golang-github-prometheus-client-golang-dev and its
// dependencies do not install, and needs no go.mod.
//
// Exit status 0 on success; on failure the error (client_golang's carries
// the server's status code and body) on stderr and status 1.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// grouping collects repeated -grouping k=v flags, in order.
type grouping [][2]string

func (g *grouping) String() string { return fmt.Sprint(*g) }

func (g *grouping) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	*g = append(*g, [2]string{name, value})
	return nil
}

// registry holds the collectors pushed, each with fixed values that the
// Rust tests assert. A registry of its own, so none of the default one's
// go_* and process_* families (whose values change) are pushed.
func registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "go_client_requests_total",
		Help: "Requests handled, by status code.",
	}, []string{"code"})
	requests.WithLabelValues("200").Add(3)
	requests.WithLabelValues("500").Add(1)

	lastRun := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "go_client_last_run_seconds",
		Help: "When the last run finished.",
	})
	lastRun.Set(1700000000.5)

	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "go_client_duration_seconds",
		Help:    "How long a run took.",
		Buckets: []float64{0.1, 0.5, 1},
	})
	// Cumulative buckets 1, 2, 3; count 4; sum 3.0.
	for _, v := range []float64{0.05, 0.25, 0.7, 2} {
		duration.Observe(v)
	}

	// Few enough observations that the streaming quantiles are exact:
	// 0.5 -> 2, 0.9 -> 3; count 3, sum 6.
	latency := prometheus.NewSummary(prometheus.SummaryOpts{
		Name:       "go_client_latency_seconds",
		Help:       "Latency of a request.",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01},
	})
	for _, v := range []float64{1, 2, 3} {
		latency.Observe(v)
	}

	reg.MustRegister(requests, lastRun, duration, latency)
	return reg
}

func main() {
	url := flag.String("url", "", "the gateway's base URL, e.g. http://127.0.0.1:9091")
	job := flag.String("job", "go_client", "the job label")
	method := flag.String("method", "push", "push (PUT, Pusher.Push), add (POST, Pusher.Add) or delete (Pusher.Delete)")
	format := flag.String("format", "protobuf", "protobuf (the default, delimited) or text")
	var labels grouping
	flag.Var(&labels, "grouping", "a grouping label NAME=VALUE (repeatable)")
	flag.Parse()
	if *url == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	// client_golang's default client has no timeout: a gateway that never
	// answers would hang the test instead of failing it.
	client := &http.Client{Timeout: 30 * time.Second}
	pusher := push.New(*url, *job).Gatherer(registry()).Client(client)
	for _, l := range labels {
		pusher = pusher.Grouping(l[0], l[1])
	}
	switch *format {
	case "protobuf":
		// client_golang's default: expfmt.FmtProtoDelim.
	case "text":
		pusher = pusher.Format(expfmt.FmtText)
	default:
		fmt.Fprintf(os.Stderr, "unknown -format %q\n", *format)
		os.Exit(2)
	}

	var err error
	switch *method {
	case "push":
		err = pusher.Push()
	case "add":
		err = pusher.Add()
	case "delete":
		err = pusher.Delete()
	default:
		fmt.Fprintf(os.Stderr, "unknown -method %q\n", *method)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
