package onboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/jsonlog"
)

// AnswerBound is what TestBoundedWorstCase holds the JSON of
// Report.Bounded(ListBound) to, whatever the report holds: well under
// Lambda's 6 MB response limit (6,291,456 bytes).
const AnswerBound = 4_000_000

// CloudWatch Logs takes events of at most 256 KB, 26 bytes of which are its
// own (PutLogEvents); Logs Insights reads at most 200 fields of a JSON event.
const (
	maxLogEvent  = 256<<10 - 26
	maxLogFields = 200
)

// fill sets every exported field of v (but those tagged bound:"-"), at any
// depth, to something: k entries in every slice and map, text in every
// string (map keys: a number first, so that they stay distinct), 1 in
// every number, true in every bool.
func fill(v reflect.Value, k int, text string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), k, text)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("bound") != "-" {
				fill(v.Field(i), k, text)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), k, k)
		for i := range k {
			fill(s.Index(i), k, text)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), k)
		for i := range k {
			key, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(key, k, fmt.Sprintf("%06d-%s", i, text))
			fill(val, k, text)
			m.SetMapIndex(key, val)
		}
		v.Set(m)
	}
}

// filled is a report with k entries in every list and text in every text.
func filled(k int, text string) Report {
	var r Report
	fill(reflect.ValueOf(&r).Elem(), k, text)
	return r
}

// walkLists calls visit with every list (slice or map) in v and its path,
// and text with every string.
func walkLists(v reflect.Value, path string, visit func(path string, n int), text func(path, s string)) {
	switch v.Kind() {
	case reflect.String:
		text(path, v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkLists(v.Elem(), path, visit, text)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("bound") != "-" {
				walkLists(v.Field(i), fieldPath(path, f), visit, text)
			}
		}
	case reflect.Slice:
		visit(path, v.Len())
		for i := range v.Len() {
			walkLists(v.Index(i), path+"[]", visit, text)
		}
	case reflect.Map:
		visit(path, v.Len())
		for _, k := range v.MapKeys() {
			walkLists(k, path, visit, text)
			walkLists(v.MapIndex(k), path+"{}", visit, text)
		}
	}
}

// Every list of a report — every slice and map at any depth, including any
// field added later — is cut to n entries, every text to TextBound bytes of
// JSON, and Truncated counts exactly what was left out of each.
func TestBoundedCutsEveryList(t *testing.T) {
	const n, k = 3, 7
	long := strings.Repeat("ab<\x01é", TextBound) // escapes and multi-byte runes
	r := filled(k, long)
	before := filled(k, long)
	lists := map[string]int{}
	walkLists(reflect.ValueOf(r), "", func(path string, _ int) { lists[path]++ }, func(string, string) {})
	require.Greater(t, len(lists), 15, "the report's lists: %v", lists)

	b := r.Bounded(n)
	walkLists(reflect.ValueOf(b), "", func(path string, got int) {
		assert.LessOrEqual(t, got, n, "%s is not bounded", path)
	}, func(path, s string) {
		assert.LessOrEqual(t, jsonLen(s), TextBound, "a text of %s is not bounded", path)
		assert.True(t, utf8.ValidString(s), "a text of %s was cut inside a character", path)
	})
	for path := range lists {
		if !strings.Contains(path, "[]") && !strings.Contains(path, "{}") { // lists of the report itself (none is nested today)
			assert.Equal(t, k-n, b.Truncated[path], "%s: what was left out", path)
		}
	}
	assert.Equal(t, before, r, "Bounded changes nothing of the report it is called on")

	// A bounded copy of a bounded copy keeps counting what the first left out.
	assert.Equal(t, k, len(b.Bounded(0).Registries.Failed)+b.Bounded(0).Truncated["registries.failed"])
}

// The worst case: every list of the report overfull and every text beyond
// its bound. The answer's size then depends on the report's shape alone.
func TestBoundedWorstCase(t *testing.T) {
	r := filled(ListBound+1, strings.Repeat("x", TextBound+1))
	answer, err := json.Marshal(r.Bounded(ListBound))
	require.NoError(t, err)
	t.Logf("worst case: %d bytes (ListBound %d, TextBound %d)", len(answer), ListBound, TextBound)
	assert.LessOrEqual(t, len(answer), AnswerBound)
}

func TestCutTextBoundsTheJSON(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("a", 5000), strings.Repeat("<", 5000), strings.Repeat("\x01", 5000), strings.Repeat("é", 5000),
		strings.Repeat("\xff", 5000), strings.Repeat("\u2028", 5000), strings.Repeat(`"\`, 5000), "short",
	} {
		for _, max := range []int{10, 100, TextBound} {
			cut := cutText(s, max)
			b, err := json.Marshal(cut)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(b)-2, max, "%.10q cut at %d", s, max)
			assert.LessOrEqual(t, jsonLen(cut), max)
			if jsonLen(s) <= max {
				assert.Equal(t, s, cut)
			} else {
				assert.True(t, strings.HasSuffix(cut, ellipsis))
			}
		}
	}
}

// rejectedTenant is the report of a first onboarding of accounts x regions
// where every role refuses the registry-assessment principal: every create
// failed, each with its (long) hint.
func rejectedTenant(accounts int, regions ...string) Report {
	var actions []Action
	for _, a := range manyAccounts(accounts, regions...) {
		for _, region := range a.Regions {
			actions = append(actions, Action{Kind: Create, Registry: Registry{URL: RegistryURL(a.ID, region), AccountID: a.ID, Region: region,
				Credential: credOf(a)}})
		}
	}
	p := Plan{Discovered: accounts, Desired: len(actions), Actions: actions}
	r := newReport(p)
	outcomes := make([]outcome, len(actions))
	for i, a := range actions {
		outcomes[i] = outcome{attempted: true, err: fmt.Errorf("creating registry %s: %w (HTTP 400: failed to validate registry credential)", a.Registry.URL, ErrCredentialRejected)}
		r.add(a, outcomes[i])
	}
	r.judgeCoverage(p, outcomes)
	r.RunID, r.Trigger = "run-1", TriggerSchedule
	return r
}

var seventeenRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
}

// 1,000 accounts x 17 regions, all failed with long hints: the bounded
// report lists 20 and counts all 17,000, exactly; the whole is 17,000
// entries of about 1 KB.
func TestBoundedReportOfATenantThatFailedEverywhere(t *testing.T) {
	r := rejectedTenant(1000, seventeenRegions...)
	require.Len(t, r.Registries.Failed, 17000)
	require.Greater(t, len(r.Registries.Failed[0].Hint), 500, "a long hint")
	whole, err := json.Marshal(r)
	require.NoError(t, err)

	b := r.Bounded(ListBound)
	answer, err := json.Marshal(b)
	require.NoError(t, err)
	t.Logf("whole report %d bytes, bounded %d bytes", len(whole), len(answer))
	assert.Greater(t, len(whole), 6<<20, "the whole report would not fit a Lambda answer")
	assert.Less(t, len(answer), 64<<10)

	assert.Len(t, b.Registries.Failed, ListBound)
	assert.Equal(t, r.Registries.Failed[:ListBound], b.Registries.Failed, "the first entries, whole")
	assert.Equal(t, map[string]int{"registries.failed": 17000 - ListBound}, b.Truncated)
	assert.Equal(t, 17000, b.Failures())
	assert.NoError(t, b.Balanced())
	assert.Equal(t, r.ExitCode(), b.ExitCode())
	assert.Equal(t, 17000, b.Coverage.Missing.Failed)
	var back Report
	require.NoError(t, json.Unmarshal(answer, &back))
	assert.Equal(t, 17000, back.Failures(), "the counts survive the answer's JSON")

	var sum strings.Builder
	r.WriteSummary(&sum)
	t.Logf("summary %d bytes", sum.Len())
	assert.Less(t, sum.Len(), 64<<10, "far under SNS's 256 KB")
	assert.Contains(t, sum.String(), "failed (17000)\n")
	assert.Contains(t, sum.String(), fmt.Sprintf("  … (%d more in the whole report)\n", 17000-ListBound))
	assert.Equal(t, ListBound, strings.Count(sum.String(), "    error: "))
}

// Failures, Changed and Balanced count what a bounded copy left out: they
// say of it what they say of the whole report.
func TestBoundedReportCountsAsTheWhole(t *testing.T) {
	r := rejectedTenant(30, "us-east-1", "eu-west-1")
	r.Registries.Created = []RegistryRef{}
	for i := range 25 {
		r.Registries.Created = append(r.Registries.Created, RegistryRef{URL: fmt.Sprintf("https://%012d.dkr.ecr.us-west-2.amazonaws.com", i)})
		r.Registries.Desired++
	}
	require.NoError(t, r.Balanced())
	for _, n := range []int{0, 1, ListBound} {
		b := r.Bounded(n)
		assert.Equal(t, r.Failures(), b.Failures(), "n=%d", n)
		assert.Equal(t, r.Changed(), b.Changed(), "n=%d", n)
		assert.NoError(t, b.Balanced(), "n=%d", n)
	}
}

// The whole report goes to the log, one line per entry, each line a small
// JSON event: all 17,000 failures are there, with their hints.
func TestLogWritesTheWholeReport(t *testing.T) {
	r := rejectedTenant(1000, seventeenRegions...)
	r.Accounts.Skipped = []Skip{{AccountID: "999999999999", Reason: "CSPM has no external ID for this account", Action: SkipFix}}
	var buf bytes.Buffer
	r.Log(context.Background(), jsonlog.New(&buf, nil))

	perList := map[string]int{}
	var reportLines int
	failed := map[string]Failure{}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		assert.LessOrEqual(t, len(line), maxLogEvent)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		assert.LessOrEqual(t, leaves(m), maxLogFields, "%.200s", line)
		switch m["msg"] {
		case "report":
			reportLines++
			var whole struct{ Report Report }
			require.NoError(t, json.Unmarshal([]byte(line), &whole))
			assert.Equal(t, 17000, whole.Report.Failures())
			assert.NotNil(t, whole.Report.Coverage)
			assert.LessOrEqual(t, len(line), 16<<10)
		case "report entry":
			list := m["list"].(string)
			perList[list]++
			if list == "registries.failed" {
				var e struct{ Entry Failure }
				require.NoError(t, json.Unmarshal([]byte(line), &e))
				failed[e.Entry.URL] = e.Entry
			}
		default:
			t.Errorf("unexpected line %s", line)
		}
	}
	assert.Equal(t, 1, reportLines)
	assert.Equal(t, 17000, perList["registries.failed"])
	assert.Equal(t, 1, perList["accounts.skipped"])
	assert.Equal(t, len(r.Coverage.Attention), perList["coverage.attention"])
	require.Len(t, failed, 17000)
	for _, f := range r.Registries.Failed {
		assert.Equal(t, f, failed[f.URL])
	}
}

// Whatever a report holds, each logged line stays a CloudWatch Logs event
// Logs Insights reads: texts of 100 KB are cut at LogTextBound.
func TestLogLinesAreBoundedWhateverTheReportHolds(t *testing.T) {
	r := filled(3, strings.Repeat("\x01", 100<<10))
	var buf bytes.Buffer
	r.Log(context.Background(), jsonlog.New(&buf, nil))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Greater(t, len(lines), 15)
	for _, line := range lines {
		assert.LessOrEqual(t, len(line), maxLogEvent, "%.200s", line)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		assert.LessOrEqual(t, leaves(m), maxLogFields, "%.200s", line)
	}
}

// leaves counts the fields Logs Insights makes of a JSON value (it flattens
// objects and arrays to one field per leaf).
func leaves(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := 0
		for _, x := range v {
			n += leaves(x)
		}
		return n
	case []any:
		n := 0
		for _, x := range v {
			n += leaves(x)
		}
		return n
	}
	return 1
}

// Only Truncated (what a bounded copy counts) escapes the bound: a new
// field cannot opt out of it unnoticed.
func TestOnlyTruncatedEscapesTheBound(t *testing.T) {
	var escaped []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("bound") == "-" {
				escaped = append(escaped, fieldPath(path, f))
				continue
			}
			walk(f.Type, fieldPath(path, f))
		}
	}
	walk(reflect.TypeOf(Report{}), "")
	assert.Equal(t, []string{"truncated"}, escaped)
}

// The summary says of every list it prints how many entries it left out.
func TestSummarySaysWhatEachListLeftOut(t *testing.T) {
	r := filled(ListBound+5, "text")
	var b strings.Builder
	r.WriteSummary(&b)
	// created, updated, deleted, not_owned.unhealthy, not_owned.other_prefix, paused, unusable, kept,
	// pending, waiting, failed, delete_failed, accounts.skipped, and coverage.attention.
	assert.Equal(t, 14, strings.Count(b.String(), "… (5 more in the whole report)\n"), b.String())
	assert.Contains(t, b.String(), "  narrowed:   to accounts text,") // 5 more accounts and 5 more regions
	assert.Contains(t, b.String(), "(and 10 more); its coverage is of that part of the scope only\n")
	assert.Contains(t, b.String(), ", 5 more states)\n")
}
