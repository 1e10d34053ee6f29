// Package demo runs the product against the embedded Falcon simulator: the
// `ecr-onboard demo` walk-through and the `ecr-onboard simulate` server.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

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
// shows that a reconcile is safe to repeat. Then it runs the first
// reconcile again on a fresh copy of the same tenant with
// REGION_SOURCE=ecr-inventory and sets the two first runs side by side.
func Run(ctx context.Context, w io.Writer) error {
	active, held, err := runs(ctx, w, nil, 1,
		"First run: onboard every CSPM account's ECR registries (REGION_SOURCE=active, the default)",
		"Second run on the same Falcon state: nothing left to do")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nFalcon now holds %d registries.\n", len(held.Registries()))
	organizations(w, held)
	fmt.Fprintf(w, "Failed and skipped entries above are the sample accounts' deliberate problems;\n"+
		"each says why and how to fix it.\n")
	inventory, _, err := runs(ctx, w, map[string]string{"REGION_SOURCE": "ecr-inventory"}, 3,
		"The same tenant, fresh, with REGION_SOURCE=ecr-inventory: only regions where Falcon's cloud asset inventory lists an ECR repository")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== 4. Side by side: the first run on the same sample tenant\n\n")
	sideBySide(w, active, inventory)
	return nil
}

// runs reconciles a fresh simulator with the demo accounts once per title,
// with extraEnv, printing each summary; it returns the first report and the
// simulator as the runs left it.
func runs(ctx context.Context, w io.Writer, extraEnv map[string]string, number int, titles ...string) (onboard.Report, *falconsim.Sim, error) {
	sim := falconsim.New(falconsim.Options{ClientID: ClientID, ClientSecret: ClientSecret})
	falconsim.DemoFixtures(sim)
	srv := falconsim.StartTLS(sim)
	defer srv.Close()

	runner, err := NewRunner(ctx, srv.URL, srv.Client(), extraEnv)
	if err != nil {
		return onboard.Report{}, nil, err
	}
	var first onboard.Report
	for i, title := range titles {
		fmt.Fprintf(w, "\n== %d. %s\n\n", number+i, title)
		report, err := runner.Run(ctx, onboard.Request{Trigger: onboard.TriggerCLI})
		if err != nil {
			return onboard.Report{}, nil, err
		}
		report.WriteSummary(w)
		if i == 0 {
			first = report
		}
	}
	return first, sim, nil
}

// organizations says, per AWS Organization of the tenant, how many of its
// accounts (all sharing its one external ID) sim now holds registrations
// for.
func organizations(w io.Writer, sim *falconsim.Sim) {
	registered := map[string]bool{}
	for _, r := range sim.Registries() {
		if id, _, ok := onboard.ParseECRURL(r.URL); ok {
			registered[id] = true
		}
	}
	var orgs []string
	accounts, onboarded := map[string]int{}, map[string]int{}
	for _, a := range sim.Accounts() {
		if a.OrganizationID == "" {
			continue
		}
		if accounts[a.OrganizationID] == 0 {
			orgs = append(orgs, a.OrganizationID)
		}
		accounts[a.OrganizationID]++
		if registered[a.ID] {
			onboarded[a.OrganizationID]++
		}
	}
	for _, o := range orgs {
		fmt.Fprintf(w, "AWS Organization %s: %d of its %d accounts onboarded. CSPM registered them all\n"+
			"with one external ID and one role name; each registry has its own account's role.\n", o, onboarded[o], accounts[o])
	}
}

// sideBySide prints the two modes' first runs as columns.
func sideBySide(w io.Writer, active, inventory onboard.Report) {
	noRepository := func(r onboard.Report) string {
		if n := r.Accounts.NoECRRepository; n != nil {
			return fmt.Sprint(n.Count)
		}
		return "-"
	}
	row := func(what string, a, b any) { fmt.Fprintf(w, "  %-40s %8v %15v\n", what, a, b) }
	row("REGION_SOURCE", active.RegionSource, inventory.RegionSource)
	row("registrations created", len(active.Registries.Created), len(inventory.Registries.Created))
	row("registries desired", active.Registries.Desired, inventory.Registries.Desired)
	row("already registered (unchanged)", active.Registries.Unchanged, inventory.Registries.Unchanged)
	row("failed (the role does not trust Falcon)", active.Failures(), inventory.Failures())
	row("accounts eligible", active.Accounts.Eligible, inventory.Accounts.Eligible)
	row("accounts skipped", len(active.Accounts.Skipped), len(inventory.Accounts.Skipped))
	row("accounts without an ECR repository", noRepository(active), noRepository(inventory))
	row("API calls", active.APICalls, inventory.APICalls)
}

// NewRunner is a Runner wired exactly as in production, through the
// environment variables, but pointed at a simulator.
func NewRunner(ctx context.Context, baseURL string, hc *http.Client, extraEnv map[string]string) (*onboard.Runner, error) {
	env := map[string]string{
		"FALCON_BASE_URL":      baseURL,
		"FALCON_CLIENT_ID":     ClientID,
		"FALCON_CLIENT_SECRET": ClientSecret,
		// The simulator's roles need no time to propagate (unless a test
		// says so: falconsim.PropagateTrust, counted in validations).
		"TRUST_PROPAGATION_WAIT": "0",
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

// Tenant is what Serve loads into the simulator: the demo accounts when
// both counts are zero, else an AWS Organization of OrgMembers accounts
// (falconsim.GenerateOrganization: one external ID and one role name) and
// Standalone accounts (falconsim.GenerateAccounts), active in Regions.
type Tenant struct {
	Standalone, OrgMembers int
	Regions                []string
}

func (t Tenant) load(sim *falconsim.Sim) {
	if t.Standalone == 0 && t.OrgMembers == 0 {
		falconsim.DemoFixtures(sim)
		return
	}
	sim.AddAccounts(falconsim.GenerateOrganization(t.OrgMembers, t.Regions)...)
	sim.AddAccounts(falconsim.GenerateAccounts(t.Standalone, t.Regions)...)
}

// Serve runs the simulator over HTTPS on addr with tenant, writing its
// certificate to certFile, and prints the environment a client needs and
// the command line to run: cli (how the CLI was started, e.g.
// "bin/ecr-onboard") with --json. Another integration of the tenant spends
// background requests a minute of its rate limit. It returns when ctx ends.
func Serve(ctx context.Context, w io.Writer, addr, certFile, cli string, tenant Tenant, opts falconsim.Options, background int) error {
	opts.ClientID, opts.ClientSecret = ClientID, ClientSecret
	sim := falconsim.New(opts)
	tenant.load(sim)
	url, err := falconsim.ListenAndServeTLS(ctx, addr, sim, certFile)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(certFile); err == nil {
		certFile = abs // the other shell may be elsewhere
	}
	sim.Background(ctx, background)
	fmt.Fprintf(w, "Falcon API simulator listening on %s. In another shell:\n\n"+
		"  export FALCON_BASE_URL=%s FALCON_CLIENT_ID=%s FALCON_CLIENT_SECRET=%s SSL_CERT_FILE=%s\n"+
		"  %s --json\n\nCtrl-C stops it.\n", url, url, ClientID, ClientSecret, certFile, cli)
	<-ctx.Done()
	return nil
}
