// Package onboard is the domain of ecr-onboard: what an account and a registry
// are, which registries should exist, and how to get there.
//
// A run is a reconcile loop in two steps:
//
//	plan  := NewPlan(accounts, existing, opts)   // pure: no I/O, printable, testable
//	report := Apply(ctx, plan, falcon)           // a thin loop of writes over the plan
//
// A dry run is the plan alone. The external ID enters on Account (from the
// CSPM API), is copied onto the desired Registry's Credential by the plan and
// leaves in the create/update request; it appears nowhere else and never in a
// Report.
package onboard
