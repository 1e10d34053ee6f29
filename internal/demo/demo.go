// Package demo runs the product against the embedded Falcon simulator: the
// `ecr-onboard demo` walk-through and the `ecr-onboard simulate` server.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Simulator credentials: not secrets, the simulator's own.
const (
	ClientID     = "sim-client"
	ClientSecret = "sim-secret"
)

// Run starts the simulator in process with sample accounts (one already
// onboarded, one with a broken trust policy, one confused-deputy case, …),
// runs the real reconcile twice and prints both summaries: the second run
// shows that a reconcile is safe to repeat.
func Run(ctx context.Context, w io.Writer) error {
	sim := falconsim.New(falconsim.Options{ClientID: ClientID, ClientSecret: ClientSecret})
	falconsim.DemoFixtures(sim)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()

	runner, err := NewRunner(ctx, srv.URL, srv.Client(), nil)
	if err != nil {
		return err
	}
	for i, title := range []string{
		"First run: onboard every CSPM account's ECR registries",
		"Second run on the same Falcon state: nothing left to do",
	} {
		fmt.Fprintf(w, "\n== %d. %s\n\n", i+1, title)
		report, err := runner.Run(ctx, onboard.Request{Trigger: onboard.TriggerCLI})
		if err != nil {
			return err
		}
		report.WriteSummary(w)
	}
	fmt.Fprintf(w, "\nFalcon now holds %d registries. Failed and skipped entries above are the sample\n"+
		"accounts' deliberate problems; each says why and how to fix it.\n", len(sim.Registries()))
	return nil
}

// NewRunner is a Runner wired exactly as in production, through the
// environment variables, but pointed at a simulator.
func NewRunner(ctx context.Context, baseURL string, hc *http.Client, extraEnv map[string]string) (*onboard.Runner, error) {
	env := map[string]string{
		"FALCON_BASE_URL":      baseURL,
		"FALCON_CLIENT_ID":     ClientID,
		"FALCON_CLIENT_SECRET": ClientSecret,
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	return app.NewRunner(ctx, cfg, app.Deps{HTTPClient: hc, Logger: logger})
}

// Serve runs the simulator over HTTPS on addr with the demo accounts (or n
// generated accounts over regions), writing its certificate to certFile, and
// prints the environment a client needs. Another integration of the tenant
// spends background requests a minute of its rate limit. It returns when
// ctx ends.
func Serve(ctx context.Context, w io.Writer, addr, certFile string, n int, regions []string, opts falconsim.Options, background int) error {
	opts.ClientID, opts.ClientSecret = ClientID, ClientSecret
	sim := falconsim.New(opts)
	if n > 0 {
		sim.AddAccounts(falconsim.GenerateAccounts(n, regions)...)
	} else {
		falconsim.DemoFixtures(sim)
	}
	url, err := falconsim.ListenAndServeTLS(ctx, addr, sim, certFile)
	if err != nil {
		return err
	}
	sim.Background(ctx, background)
	fmt.Fprintf(w, "Falcon API simulator listening on %s. In another shell:\n\n"+
		"  export FALCON_BASE_URL=%s FALCON_CLIENT_ID=%s FALCON_CLIENT_SECRET=%s SSL_CERT_FILE=%s\n"+
		"  ecr-onboard --json\n\nCtrl-C stops it.\n", url, url, ClientID, ClientSecret, certFile)
	<-ctx.Done()
	return nil
}
