package falcon_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// allRegions are 17 commercial regions (CSPM's usual active set).
var allRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
	"ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
}

// paginationMinimum is the fewest requests a complete read can take, its
// token aside: every query page (500 accounts, registryPage registries a
// page) and entity batch (100 IDs), once.
func paginationMinimum(accounts, registries, registryPage int) int {
	pages := func(n, size int) int { return (n + size - 1) / size }
	return pages(accounts, 500) + pages(accounts, 100) + pages(registries, registryPage) + pages(registries, 100)
}

// onboardedSim is a tenant where every registry of n accounts x 17 regions
// already exists, as this tool registers them.
func onboardedSim(n int, opts falconsim.Options) *falconsim.Sim {
	opts.ClientID, opts.ClientSecret = demo.ClientID, demo.ClientSecret
	sim := falconsim.New(opts)
	accounts := falconsim.GenerateAccounts(n, allRegions)
	sim.AddAccounts(accounts...)
	for _, a := range accounts {
		for _, r := range a.Regions {
			sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, r), Alias: onboard.Owner("ecr-onboard").Alias(a.ID, r, onboard.Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID}), RoleARN: a.RoleARN, ExternalID: a.ExternalID})
		}
	}
	return sim
}

// BenchmarkNoOpRun is the steady state: 1,000 accounts x 17 regions all
// onboarded, 20 ms per request, registry pages of the live maximum (500) and
// capped at 100. Reports API calls against the minimum (token included).
func BenchmarkNoOpRun(b *testing.B) {
	for _, page := range []int{falconsim.DefaultRegistryPageMax, 100} {
		b.Run(fmt.Sprintf("registry-pages=%d", page), func(b *testing.B) {
			noOpRun(b, falconsim.Options{Latency: 20 * time.Millisecond, RegistryPageMax: page}, 1+paginationMinimum(1000, 17000, page))
		})
	}
}

func noOpRun(b *testing.B, opts falconsim.Options, min int) {
	sim := onboardedSim(1000, opts)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	b.ResetTimer()
	for range b.N {
		runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), nil)
		if err != nil {
			b.Fatal(err)
		}
		report, err := runner.Run(context.Background(), onboard.Request{})
		if err != nil {
			b.Fatal(err)
		}
		if report.Registries.Unchanged != 17000 || report.Changed() || sim.Stats().Writes() != 0 {
			b.Fatalf("not a no-op: %+v", report.Registries)
		}
		b.ReportMetric(float64(report.APICalls), "api-calls/op")
		b.ReportMetric(float64(min), "min-calls")
	}
}

// onboard1 runs one first-time onboarding of n accounts x regions against a
// fresh simulator (with another integration of the tenant spending
// background requests a minute) and reports wall time, API calls and 429s.
func onboard1(b *testing.B, opts falconsim.Options, n int, regions []string, env map[string]string, background int) onboard.Report {
	b.Helper()
	opts.ClientID, opts.ClientSecret = demo.ClientID, demo.ClientSecret
	sim := falconsim.New(opts)
	sim.AddAccounts(falconsim.GenerateAccounts(n, regions)...)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()
	runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), env)
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sim.Background(ctx, background)
	start := time.Now()
	report, err := runner.Run(context.Background(), onboard.Request{})
	if err != nil {
		b.Fatal(err)
	}
	want := n * len(regions)
	if len(report.Registries.Created) != want || len(report.Registries.Failed) != 0 || len(sim.Registries()) != want {
		b.Fatalf("created %d (failed %d, in Falcon %d), want %d", len(report.Registries.Created), len(report.Registries.Failed), len(sim.Registries()), want)
	}
	st := sim.Stats()
	b.ReportMetric(time.Since(start).Seconds(), "wall-s")
	b.ReportMetric(float64(report.APICalls), "api-calls")
	b.ReportMetric(float64(st.RateLimited), "429s")
	b.ReportMetric(float64(st.CreatesSucceeded), "creates")
	if background > 0 {
		b.ReportMetric(float64(st.BackgroundRequests), "others-requests")
		b.ReportMetric(float64(st.BackgroundRateLimited), "others-429s")
	}
	return report
}

// BenchmarkFirstOnboarding17k registers 1,000 accounts x 17 regions with the
// simulator limiting the tenant to 6,000 requests a minute, as Falcon does,
// with a burst of only 100 so the limit binds from the start. With
// RATE_SHARE=1 the floor is 17,000 / 100 req/s = 170 s; with 0.5 it is
// 340 s, while another integration of the tenant spends 2,500 requests a
// minute and must get no 429. Minutes long: `make bench`.
func BenchmarkFirstOnboarding17k(b *testing.B) {
	tenant := falconsim.Options{RateLimitPerMinute: 6000, RateLimitBurst: 100, Latency: 20 * time.Millisecond}
	for _, c := range []struct {
		share      string
		background int
	}{{"1", 0}, {"0.5", 2500}} {
		b.Run("share="+c.share, func(b *testing.B) {
			for range b.N {
				onboard1(b, tenant, 1000, allRegions, map[string]string{"RATE_SHARE": c.share}, c.background)
			}
		})
	}
}

// BenchmarkConcurrency shows throughput against MAX_CONCURRENCY: 40
// accounts x 17 regions, 20 ms per request, 100 req/s limit (no burst).
func BenchmarkConcurrency(b *testing.B) {
	for _, c := range []string{"1", "2", "4", "8", "16", "32"} {
		b.Run("c="+c, func(b *testing.B) {
			for range b.N {
				onboard1(b, falconsim.Options{RateLimitPerMinute: 6000, RateLimitBurst: 100, Latency: 20 * time.Millisecond}, 40, allRegions,
					map[string]string{"MAX_CONCURRENCY": c, "RATE_SHARE": "1"}, 0)
			}
		})
	}
}

// BenchmarkRegionSource is the first onboarding of 1,000 accounts x 17
// regions where Falcon's cloud asset inventory lists ECR repositories (1 to
// 3 each) in 10% of the account and region pairs, once per
// REGION_SOURCE, on the same tenant: 20 ms per request, MAX_CONCURRENCY 8,
// no 429 (the simulator enforces no limit) and the same pace in both: the
// client's, RATE_SHARE=1 of the 6,000 requests a minute the simulator
// advertises. Reports registrations created, API calls (the inventory's
// apart) and wall time. Minutes long (active mode): `make bench`.
func BenchmarkRegionSource(b *testing.B) {
	accounts := falconsim.GenerateAccounts(1000, allRegions)
	rng := rand.New(rand.NewPCG(14, 14))
	pairs := rng.Perm(len(accounts) * len(allRegions))[:len(accounts)*len(allRegions)/10]
	withRepositories := map[string]bool{}
	type repo struct{ account, region, name string }
	var repos []repo
	for _, p := range pairs {
		a, region := accounts[p/len(allRegions)], allRegions[p%len(allRegions)]
		withRepositories[a.ID] = true
		for i := range 1 + rng.IntN(3) {
			repos = append(repos, repo{a.ID, region, fmt.Sprint("repo-", i)})
		}
	}
	for _, source := range []string{"active", "ecr-inventory"} {
		b.Run("region-source="+source, func(b *testing.B) {
			for range b.N {
				sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Latency: 20 * time.Millisecond})
				sim.AddAccounts(accounts...)
				for _, r := range repos {
					sim.AddRepository(r.account, r.region, r.name)
				}
				srv := falconsim.StartTLS(sim)
				runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), map[string]string{"REGION_SOURCE": source, "RATE_SHARE": "1"})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				report, err := runner.Run(context.Background(), onboard.Request{})
				wall := time.Since(start)
				srv.Close()
				if err != nil {
					b.Fatal(err)
				}
				want := len(accounts) * len(allRegions)
				if source == "ecr-inventory" {
					want = len(pairs)
					if n := report.Accounts.NoECRRepository; n == nil || n.Count != len(accounts)-len(withRepositories) {
						b.Fatalf("no_ecr_repository %+v, want %d", n, len(accounts)-len(withRepositories))
					}
				}
				if len(report.Registries.Created) != want || len(report.Registries.Failed) != 0 || len(sim.Registries()) != want {
					b.Fatalf("created %d (failed %d, in Falcon %d), want %d", len(report.Registries.Created), len(report.Registries.Failed), len(sim.Registries()), want)
				}
				b.ReportMetric(float64(len(report.Registries.Created)), "created")
				b.ReportMetric(float64(report.APICalls), "api-calls")
				b.ReportMetric(float64(inventoryCalls(sim)), "inventory-calls")
				b.ReportMetric(float64(len(repos)), "repositories")
				b.ReportMetric(wall.Seconds(), "wall-s")
				if n := report.Accounts.NoECRRepository; n != nil {
					b.ReportMetric(float64(n.Count), "no-repository-accounts")
				}
			}
		})
	}
}

// BenchmarkRateShare measures the pace the pacer achieves on a first
// onboarding long enough for the tenant's limit to bind: API requests a
// minute, as a ratio of RATE_SHARE x the tenant's limit (the goal:
// 0.95-1.0, and no 429). "ratio" is over the whole run, so it includes the
// burst a run may start with (share x the tenant's bucket: a short run is
// not slowed); "steady-ratio" is over the second half of the run, the pace
// proper. Each share gets a tenant whose limit makes its part 600 requests a
// minute (60,000 a minute at 0.01, Falcon's usual 6,000 at 0.1), a bucket
// of one second's refill so the limit binds from the start, 20 ms a
// request, and 360 accounts x 1 region to register: about 370 requests,
// 36 s a share. No other integration spends the limit (the tool's own pace
// is measured; TestRateShareLeavesRoomForTheTenantsOtherIntegrations and
// BenchmarkFirstOnboarding17k cover the others).
func BenchmarkRateShare(b *testing.B) {
	const perShare = 600.0 // requests a minute of the tool's part
	for _, share := range []float64{0.01, 0.1, 0.5, 1} {
		limit := int(perShare / share)
		b.Run(fmt.Sprintf("share=%v/limit=%d", share, limit), func(b *testing.B) {
			for range b.N {
				sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret,
					RateLimitPerMinute: limit, RateLimitBurst: limit / 60, Latency: 20 * time.Millisecond})
				sim.AddAccounts(falconsim.GenerateAccounts(360, []string{"us-east-1"})...)
				srv := falconsim.StartTLS(sim)
				var mu sync.Mutex
				var sent []time.Time
				next := srv.Client().Transport
				hc := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
					mu.Lock()
					sent = append(sent, time.Now())
					mu.Unlock()
					return next.RoundTrip(r)
				})}
				runner, err := demo.NewRunner(context.Background(), srv.URL, hc, map[string]string{"RATE_SHARE": fmt.Sprint(share)})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				report, err := runner.Run(context.Background(), onboard.Request{})
				end := time.Now()
				srv.Close()
				if err != nil || len(report.Registries.Created) != 360 {
					b.Fatalf("run: %v, created %d", err, len(report.Registries.Created))
				}
				half := start.Add(end.Sub(start) / 2)
				late := 0
				for _, at := range sent {
					if !at.Before(half) {
						late++
					}
				}
				part := share * float64(limit)
				perMin := float64(len(sent)) / end.Sub(start).Minutes()
				steady := float64(late) / end.Sub(half).Minutes()
				b.ReportMetric(float64(limit), "tenant-limit/min")
				b.ReportMetric(perMin, "req/min")
				b.ReportMetric(perMin/part, "ratio")
				b.ReportMetric(steady, "steady-req/min")
				b.ReportMetric(steady/part, "steady-ratio")
				b.ReportMetric(float64(sim.Stats().RateLimited), "429s")
			}
		})
	}
}

// BenchmarkOrganization is an AWS Organization of 500 accounts sharing one
// external ID beside 20 standalone accounts, 3 regions each (1,560
// registries), 20 ms per request, the default configuration (MAX_CONCURRENCY
// 8, RATE_SHARE 0.5 of the 6,000 requests a minute the simulator advertises;
// it enforces no limit): the first onboarding, and the run after CSPM
// regenerates the organization's external ID (1,500 PATCHes). Reports wall
// time, API calls and writes of that run alone (the setup, and the
// onboarding before a regeneration, are not timed).
func BenchmarkOrganization(b *testing.B) {
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	const members, standalone = 500, 20
	for _, regenerated := range []bool{false, true} {
		name := "first-run"
		if regenerated {
			name = "after-regeneration"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Latency: 20 * time.Millisecond})
				sim.AddAccounts(falconsim.GenerateOrganization(members, regions)...)
				sim.AddAccounts(falconsim.GenerateAccounts(standalone, regions)...)
				srv := falconsim.StartTLS(sim)
				runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if regenerated {
					if _, err := runner.Run(context.Background(), onboard.Request{}); err != nil {
						b.Fatal(err)
					}
					sim.RegenerateOrganizationExternalID(falconsim.GeneratedOrganizationID)
				}
				writes := sim.Stats().Writes()
				b.StartTimer()
				start := time.Now()
				report, err := runner.Run(context.Background(), onboard.Request{})
				wall := time.Since(start)
				b.StopTimer()
				srv.Close()
				if err != nil {
					b.Fatal(err)
				}
				created, updated := (members+standalone)*len(regions), 0
				if regenerated {
					created, updated = 0, members*len(regions)
				}
				if len(report.Registries.Created) != created || len(report.Registries.Updated) != updated ||
					len(report.Registries.Failed) != 0 || len(report.Accounts.Skipped) != 0 {
					b.Fatalf("created %d, updated %d (want %d, %d), failed %d, skipped %d", len(report.Registries.Created),
						len(report.Registries.Updated), created, updated, len(report.Registries.Failed), len(report.Accounts.Skipped))
				}
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(float64(report.APICalls), "api-calls")
				b.ReportMetric(float64(sim.Stats().Writes()-writes), "writes")
			}
		})
	}
}

// BenchmarkUntrustedOrganization is the first deploy of an organisation of
// 1,000 accounts x 17 regions whose roles do not trust the
// registry-assessment principal yet (registered with CSPM a month ago), 20
// ms per request, the default configuration: two runs, then a third after
// 10 roles are fixed. Reports each run's creates, API calls and time.
func BenchmarkUntrustedOrganization(b *testing.B) {
	for range b.N {
		opts := falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Latency: 20 * time.Millisecond}
		sim := falconsim.New(opts)
		accounts := untrustedOrganization(1000)
		sim.AddAccounts(accounts...)
		srv := falconsim.StartTLS(sim)
		runner, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), nil)
		if err != nil {
			b.Fatal(err)
		}
		for run := 1; run <= 3; run++ {
			if run == 3 {
				for _, a := range accounts[:10] {
					sim.AddRole(a.RoleARN, a.ExternalID, true)
				}
			}
			before, start := creates(sim), time.Now()
			report, err := runner.Run(context.Background(), onboard.Request{})
			if err != nil {
				b.Fatal(err)
			}
			sent := creates(sim) - before
			switch {
			case run < 3 && (sent != 1000 || len(report.Registries.Failed) != 1000):
				b.Fatalf("run %d: %d creates, %d failed; want 1,000 of each", run, sent, len(report.Registries.Failed))
			case run == 3 && len(report.Registries.Created) != 170:
				b.Fatalf("run 3: %d created, want 170", len(report.Registries.Created))
			}
			b.ReportMetric(float64(sent), fmt.Sprintf("run%d-creates", run))
			b.ReportMetric(float64(report.APICalls), fmt.Sprintf("run%d-api-calls", run))
			b.ReportMetric(time.Since(start).Seconds(), fmt.Sprintf("run%d-s", run))
		}
		srv.Close()
	}
}
