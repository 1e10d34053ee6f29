package trigger

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Metric names in namespace MetricsNamespace, dimension FunctionName. The
// stack's alarms watch RegistriesFailed and CoverageIncomplete, its
// dashboard all of them: keep these names.
const (
	MetricsNamespace  = "EcrOnboard"
	RegistriesCreated = "RegistriesCreated"
	RegistriesUpdated = "RegistriesUpdated"
	RegistriesFailed  = "RegistriesFailed"
	AccountsSkipped   = "AccountsSkipped"
	RateLimited       = "RateLimited"
	DurationMs        = "DurationMs"
	APICalls          = "APICalls"
	// Coverage of a run whose coverage speaks for the tenant
	// (onboard.Report.TenantCoverage: it judged coverage — not a stack
	// Delete, not a scheduled run that left the work to a continuation
	// chain — over the whole configured scope, not narrowed to some
	// accounts or regions): CoveragePercent (onboard.Coverage.Percent),
	// RegistriesMissing (Desired - Present) and CoverageIncomplete, 1 when
	// the run's coverage is not clean and 0 when it is. A narrowed run
	// emits none of them: the CoverageAlarm takes the minimum over an hour,
	// so one clean narrowed run would silence it.
	CoveragePercent    = "CoveragePercent"
	RegistriesMissing  = "RegistriesMissing"
	CoverageIncomplete = "CoverageIncomplete"
	// RunsDeferred is 1 in the line of a scheduled run that left its work
	// to a continuation chain in flight (and ran nothing); absent otherwise.
	RunsDeferred = "RunsDeferred"
	// FullRunCompleted is 1 in the line of a run over the whole configured
	// scope (no narrowing) that reached its end and judged coverage — a
	// chain's last link included; absent otherwise. The dashboard shows
	// when the last one finished.
	FullRunCompleted = "FullRunCompleted"
)

// signals are what a line says beside the report's counts.
type signals struct {
	deferred bool // RunsDeferred
	fullRun  bool // FullRunCompleted
}

// add puts s's metrics in l.
func (l *emfLine) add(s signals) {
	one := 1
	if s.deferred {
		l.RunsDeferred = &one
		l.AWS.CloudWatchMetrics[0].Metrics = append(l.AWS.CloudWatchMetrics[0].Metrics, emfMetric{RunsDeferred, "Count"})
	}
	if s.fullRun {
		l.FullRunCompleted = &one
		l.AWS.CloudWatchMetrics[0].Metrics = append(l.AWS.CloudWatchMetrics[0].Metrics, emfMetric{FullRunCompleted, "Count"})
	}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emfLine is one CloudWatch Embedded Metric Format record: Lambda turns a
// stdout line of this shape into metrics without any API call.
type emfLine struct {
	AWS               emfMeta `json:"_aws"`
	FunctionName      string  `json:"FunctionName"`
	RegistriesCreated int     `json:"RegistriesCreated"`
	RegistriesUpdated int     `json:"RegistriesUpdated"`
	RegistriesFailed  int     `json:"RegistriesFailed"`
	AccountsSkipped   int     `json:"AccountsSkipped"`
	RateLimited       int64   `json:"RateLimited"`
	DurationMs        int64   `json:"DurationMs"`
	APICalls          int64   `json:"APICalls"`
	// Set only when the run's coverage speaks for the tenant.
	CoveragePercent    *float64 `json:"CoveragePercent,omitempty"`
	RegistriesMissing  *int     `json:"RegistriesMissing,omitempty"`
	CoverageIncomplete *int     `json:"CoverageIncomplete,omitempty"`
	// Set only when signalled (signals).
	RunsDeferred     *int `json:"RunsDeferred,omitempty"`
	FullRunCompleted *int `json:"FullRunCompleted,omitempty"`
	// Properties (searchable in Logs Insights, not metrics).
	RunID    string          `json:"run_id"`
	Trigger  onboard.Trigger `json:"trigger"`
	DryRun   bool            `json:"dry_run"`
	Complete bool            `json:"complete"`
	Narrowed bool            `json:"narrowed"`
}

// metricsLine builds the EMF record of a run. A dry run created and updated
// nothing, so it counts zero there (its report lists what it would do).
func metricsLine(functionName string, rep onboard.Report, now time.Time) emfLine {
	metrics := []emfMetric{
		{RegistriesCreated, "Count"}, {RegistriesUpdated, "Count"}, {RegistriesFailed, "Count"},
		{AccountsSkipped, "Count"}, {RateLimited, "Count"}, {DurationMs, "Milliseconds"}, {APICalls, "Count"},
	}
	l := emfLine{
		FunctionName:     functionName,
		RegistriesFailed: rep.Failures(),
		AccountsSkipped:  len(rep.Accounts.Skipped),
		RateLimited:      rep.RateLimited,
		DurationMs:       rep.DurationMS,
		APICalls:         rep.APICalls,
		RunID:            rep.RunID,
		Trigger:          rep.Trigger,
		DryRun:           rep.DryRun,
		Complete:         rep.Complete,
		Narrowed:         rep.Narrowed,
	}
	if !rep.DryRun {
		l.RegistriesCreated = len(rep.Registries.Created)
		l.RegistriesUpdated = len(rep.Registries.Updated)
	}
	if c := rep.TenantCoverage(); c != nil {
		incomplete := 0
		if !c.Clean {
			incomplete = 1
		}
		l.CoveragePercent, l.RegistriesMissing, l.CoverageIncomplete = &c.Percent, ptr(c.Desired-c.Present), &incomplete
		metrics = append(metrics, emfMetric{CoveragePercent, "Percent"}, emfMetric{RegistriesMissing, "Count"}, emfMetric{CoverageIncomplete, "Count"})
	}
	l.AWS = emfMeta{
		Timestamp: now.UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  MetricsNamespace,
			Dimensions: [][]string{{"FunctionName"}},
			Metrics:    metrics,
		}},
	}
	return l
}

func ptr[T any](v T) *T { return &v }

// emitMetrics writes the run's EMF line (one write, one line).
func (h *Handler) emitMetrics(ctx context.Context, inv invocation, rep onboard.Report, s signals) {
	l := metricsLine(h.functionName(ctx), rep, time.Now())
	l.add(s)
	b, err := json.Marshal(l)
	if err != nil {
		inv.log.Error("encoding metrics", "error", err)
		return
	}
	w := h.Metrics
	if w == nil {
		w = os.Stdout
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		inv.log.Error("writing metrics", "error", err)
	}
}
