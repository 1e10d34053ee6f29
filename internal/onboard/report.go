package onboard

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Report is the result of a run (CONTRACT §5). It never holds an external ID
// or any other secret. In a dry run, Created/Updated/Deleted are what would happen.
type Report struct {
	RunID      string           `json:"run_id"`
	Trigger    string           `json:"trigger"`
	Continues  string           `json:"continues,omitempty"` // run ID this run continues
	DryRun     bool             `json:"dry_run"`
	Complete   bool             `json:"complete"` // false: stopped early (deadline or fatal error); the next run continues
	StartedAt  time.Time        `json:"started_at"`
	DurationMS int64            `json:"duration_ms"`
	Accounts   AccountsReport   `json:"accounts"`
	Registries RegistriesReport `json:"registries"`
	APICalls   int64            `json:"api_calls"`
	// Where the tool ran, when known (AWS account and partition).
	HomeAccount string `json:"home_account,omitempty"`
	Partition   string `json:"partition,omitempty"`
}

// AccountsReport counts accounts; Skipped lists refused ones with reasons.
type AccountsReport struct {
	Discovered int    `json:"discovered"`
	Eligible   int    `json:"eligible"`
	Skipped    []Skip `json:"skipped"`
}

// RegistriesReport lists what the run did to registries.
type RegistriesReport struct {
	Desired      int           `json:"desired"`
	Existing     int           `json:"existing"`
	Unchanged    int           `json:"unchanged"`
	Created      []RegistryRef `json:"created"`
	Updated      []RegistryRef `json:"updated"`
	Deleted      []RegistryRef `json:"deleted"`
	Failed       []Failure     `json:"failed"`
	NotAttempted int           `json:"not_attempted"` // planned writes left for the next run
	// NotOwned: desired registries already registered by someone else
	// (counted in Unchanged; never written). Unhealthy lists those whose
	// state Falcon reports as a credential problem, with a hint.
	NotOwned NotOwnedReport `json:"not_owned"`
}

// NotOwnedReport counts registrations of desired registries this tool did
// not make, and lists the ones Falcon reports a credential problem for.
type NotOwnedReport struct {
	Count     int       `json:"count"`
	Unhealthy []Failure `json:"unhealthy"`
}

// RegistryRef names a registry in a report.
type RegistryRef struct {
	URL        string `json:"url"`
	AccountID  string `json:"account_id"`
	Region     string `json:"region"`
	RegistryID string `json:"registry_id,omitempty"`
	Reason     string `json:"reason,omitempty"` // why an update or delete
}

// Failure is a registry write that did not succeed, with a hint for a person.
type Failure struct {
	URL       string `json:"url"`
	AccountID string `json:"account_id"`
	Region    string `json:"region"`
	Error     string `json:"error"`
	Hint      string `json:"hint,omitempty"`
}

// ExitCode is the CLI's exit status for a finished run: 0 when every desired
// registry is in place (or, in a dry run, the plan was made), 3 when some
// failed or were left for later.
func (r Report) ExitCode() int {
	if len(r.Registries.Failed) > 0 || !r.Complete {
		return 3
	}
	return 0
}

// Changed reports whether the run wrote (or, dry, would write) anything.
func (r Report) Changed() bool {
	g := r.Registries
	return len(g.Created)+len(g.Updated)+len(g.Deleted) > 0
}

// EmptyReport is the report of an invocation that ran nothing (a stack
// Delete that disconnects nothing, a refused request).
func EmptyReport(runID, trigger string) Report {
	r := newReport(Plan{})
	r.RunID, r.Trigger, r.StartedAt = runID, trigger, time.Now().UTC()
	return r
}

func newReport(p Plan) Report {
	r := Report{
		Complete: true,
		Accounts: AccountsReport{Discovered: p.Discovered, Eligible: len(p.Eligible), Skipped: nonNil(p.Skipped)},
		Registries: RegistriesReport{
			Desired: p.Desired, Existing: p.Existing, Unchanged: p.Unchanged,
			Created: []RegistryRef{}, Updated: []RegistryRef{}, Deleted: []RegistryRef{}, Failed: []Failure{},
			NotOwned: NotOwnedReport{Count: len(p.NotOwned), Unhealthy: []Failure{}},
		},
	}
	for _, reg := range p.NotOwned {
		if trouble := reg.Trouble(); trouble != "" {
			r.Registries.NotOwned.Unhealthy = append(r.Registries.NotOwned.Unhealthy, Failure{
				URL: reg.URL, AccountID: reg.AccountID, Region: reg.Region, Error: trouble,
				Hint: fmt.Sprintf("registered outside ecr-onboard (alias %q), so it is never written here: fix its credential in the Falcon console, "+
					"or delete the registration and the next run registers it with CSPM's credential", reg.Alias),
			})
		}
	}
	return r
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func ref(a Action, id string) RegistryRef {
	r := a.Registry
	return RegistryRef{URL: r.URL, AccountID: r.AccountID, Region: r.Region, RegistryID: id, Reason: a.Reason}
}

// failure describes err for a person, without the external ID even if an
// API error message were to echo it.
func failure(r Registry, err error) Failure {
	msg := err.Error()
	if x := r.Credential.ExternalID; x != "" {
		msg = strings.ReplaceAll(msg, x, "[external-id]")
	}
	return Failure{URL: r.URL, AccountID: r.AccountID, Region: r.Region, Error: msg, Hint: hint(r, err)}
}

func hint(r Registry, err error) string {
	switch {
	case errors.Is(err, ErrCredentialRejected):
		return fmt.Sprintf("let %s assume %s: add it to the role's trust policy with the same sts:ExternalId condition CSPM uses (deploy/trust-policy.json)",
			RegistryAssessmentPrincipal(Partition(r.Region)), r.Credential.RoleARN)
	case errors.Is(err, ErrAccessDenied):
		return ScopesHint
	case errors.Is(err, ErrUncertain):
		return "Falcon did not confirm the write; the next run re-checks and retries it"
	}
	return ""
}

// RegistryAssessmentPrincipal is the role Container Security's image
// assessment assumes customer roles from, per partition.
func RegistryAssessmentPrincipal(partition string) string {
	if partition == "aws-us-gov" {
		return "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCustomerRegistryAssessmentRole"
	}
	return "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
}
