// Package onboard is the domain of ecr-onboard: what an account and a registry
// are, which registries should exist, and how to get there.
//
// A run is a reconcile loop in two steps:
//
//	plan   := NewPlan(observed, policy) // pure: no I/O, printable, testable
//	report := apply(ctx, plan, falcon)  // a thin loop of writes over the plan
//
// Observed is what the run read (CSPM's accounts, Container Security's
// registrations, VERIFY_TRUST's verdicts); Policy is what it may do: a Scope
// that can only narrow, the Owner whose registrations alone it may write,
// and a Mode (reconcile, prune, disconnect). The rules that protect users
// each live in one place: Scope (narrowing never widens, no overlap matches
// nothing), Owner (never touch what we did not make), judge (the
// confused-deputy rules over all of CSPM's records), Narrowing.Check (one
// validation for every way a request arrives), Report.Balanced (the
// report's arithmetic), Report.TenantCoverage (only a run over the whole
// scope speaks for the tenant), Report.Bounded (what every output with a
// size limit shows of a report).
//
// A dry run is the plan alone. The external ID enters on Account (from the
// CSPM API), is copied onto the desired Registry's Credential by the plan and
// leaves in the create/update request; it appears nowhere else and never in a
// Report. What the alias records of it is a one-way fingerprint.
package onboard
