package trigger

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// A run that judged no coverage (a stack Delete, a scheduled run that left
// the work to a continuation chain) emits no coverage metric, so the
// CoverageAlarm neither fires nor clears on it.
func TestMetricsWithoutCoverage(t *testing.T) {
	b, err := json.Marshal(metricsLine("fn", onboard.EmptyReport("r", onboard.TriggerCloudFormation), time.Now()))
	require.NoError(t, err)
	var line map[string]any
	require.NoError(t, json.Unmarshal(b, &line))
	for _, name := range []string{CoveragePercent, RegistriesMissing, CoverageIncomplete} {
		assert.NotContains(t, line, name)
		assert.NotContains(t, string(b), `"Name":"`+name+`"`)
	}
	assert.Contains(t, line, APICalls)
}

// A narrowed run's coverage is of a part of the scope: no coverage metric,
// and the line says it was narrowed.
func TestMetricsOfANarrowedRun(t *testing.T) {
	rep := onboard.EmptyReport("r", onboard.TriggerManual)
	rep.Coverage = &onboard.Coverage{Desired: 1, Present: 1, Percent: 100, Clean: true}
	rep.Narrowed, rep.Narrowing = true, &onboard.Narrowing{AccountIDs: []string{"111111111111"}}
	b, err := json.Marshal(metricsLine("fn", rep, time.Now()))
	require.NoError(t, err)
	for _, name := range []string{CoveragePercent, RegistriesMissing, CoverageIncomplete} {
		assert.NotContains(t, string(b), name)
	}
	assert.Contains(t, string(b), `"narrowed":true`)

	rep.Narrowed, rep.Narrowing = false, nil
	b, err = json.Marshal(metricsLine("fn", rep, time.Now()))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"CoverageIncomplete":0`)
}
