package main

import (
	"os"
	"testing"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/rietest"
)

// BenchmarkColdStart measures a cold start as Lambda has one: from the
// emulator's start to the answer of the function's first invocation, a
// manual dry run over the demo accounts (the bootstrap starts, loads its
// configuration, asks STS for its account, then fetches a Falcon token,
// lists accounts and registries and plans). init-ms is the init phase alone
// as the emulator measures it (bootstrap start to its first request for an
// invocation).
func BenchmarkColdStart(b *testing.B) {
	d := deploy(b, nil)
	bootstrap(b)
	rietest.Binary(b)
	b.ResetTimer()
	var cold, init time.Duration
	for range b.N {
		fn := d.start(b, time.Minute)
		r := fn.Invoke(b, "cold-start", []byte(`{"dry_run":true}`))
		if r.Failed() || r.Status != 200 {
			b.Fatalf("first invocation failed: %s", r.Body)
		}
		cold += r.At.Sub(fn.Started)
		out := fn.Stop()
		d, ok := initDuration(out.Stderr)
		if !ok {
			b.Fatalf("no INIT REPORT in the emulator's log:\n%s", out.Stderr)
		}
		init += d
	}
	b.ReportMetric(float64(cold.Microseconds())/1000/float64(b.N), "cold-start-ms")
	b.ReportMetric(float64(init.Microseconds())/1000/float64(b.N), "init-ms")
}

// BenchmarkBootstrap17k runs the real bootstrap (built as for Lambda,
// stripped) under the emulator through a first-time onboarding of 1,000
// accounts x 17 regions and reports its size, init time, the run's wall
// time and the function process's peak RSS.
func BenchmarkBootstrap17k(b *testing.B) {
	bin := bootstrap(b)
	regions := []string{
		"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3",
		"eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
	}
	rietest.Binary(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// A tenant whose rate limit never binds (100,000 a second): this
		// measures the process, not the pacing to a share of the limit.
		sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, RateLimitPerMinute: 6_000_000})
		sim.AddAccounts(falconsim.GenerateAccounts(1000, regions)...)
		d := deploy(b, sim, "LOG_LEVEL=warn")
		b.StartTimer()
		fn := d.start(b, 15*time.Minute)
		t0 := time.Now()
		r := fn.Invoke(b, "bench", []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
		wall := r.At.Sub(t0)
		rss := fn.FunctionPeakRSS()
		out := fn.Stop()
		if r.Failed() || len(sim.Registries()) != 17000 {
			b.Fatalf("run failed (%d registries): %s", len(sim.Registries()), r.Body)
		}
		if init, ok := initDuration(out.Stderr); ok {
			b.ReportMetric(float64(init.Microseconds())/1000, "init-ms")
		}
		b.ReportMetric(wall.Seconds(), "run-s")
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
	if st, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(st.Size())/1e6, "bootstrap-MB")
	}
}
