package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// BenchmarkBootstrap17k runs the real bootstrap (built as for Lambda,
// stripped) through a first-time onboarding of 1,000 accounts x 17 regions
// and reports its init time, the run's wall time and the process's peak RSS.
func BenchmarkBootstrap17k(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if out, err := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-tags", "lambda.norpc", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v %s", err, out)
	}
	if st, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(st.Size())/1e6, "bootstrap-MB")
	}
	regions := []string{
		"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3",
		"eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
	}
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
		sim.AddAccounts(falconsim.GenerateAccounts(1000, regions)...)
		certFile := filepath.Join(dir, "sim.pem")
		simURL, err := falconsim.ListenAndServeTLS(ctx, "127.0.0.1:0", sim, certFile)
		if err != nil {
			b.Fatal(err)
		}
		rt := newRuntimeAPI(b)
		cmd := exec.Command(bin)
		cmd.Env = []string{
			"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(rt.URL, "http://"),
			"AWS_LAMBDA_FUNCTION_NAME=ecr-onboard-bench", "LOG_LEVEL=warn",
			"FALCON_BASE_URL=" + simURL, "FALCON_CLIENT_ID=" + demo.ClientID, "FALCON_CLIENT_SECRET=" + demo.ClientSecret,
			"SSL_CERT_FILE=" + certFile, "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=" + rt.URL,
			"AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=example",
		}
		started := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		init := (<-rt.firstPoll).Sub(started)
		t0 := time.Now()
		rt.events <- invocation{id: "bench", payload: `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`}
		res := <-rt.results
		wall := time.Since(t0)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
		if !res.ok || len(sim.Registries()) != 17000 {
			b.Fatalf("run failed (%d registries): %s", len(sim.Registries()), res.body)
		}
		b.ReportMetric(float64(init.Microseconds())/1000, "init-ms")
		b.ReportMetric(wall.Seconds(), "run-s")
		b.ReportMetric(float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)/1024, "peak-RSS-MB")
	}
}
