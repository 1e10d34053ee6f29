package trigger_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// Every sample event in deploy/events (the console's test tab) is routed
// and runs against the simulator; CloudFormation ones answer the local
// stand-in for their ResponseURL.
func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob("../../deploy/events/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	want := map[string]onboard.Trigger{
		"scheduled.json":          onboard.TriggerSchedule,
		"manual-dry-run.json":     onboard.TriggerManual,
		"manual-one-account.json": onboard.TriggerManual,
		"cfn-create.json":         onboard.TriggerCloudFormation,
		"cfn-delete.json":         onboard.TriggerCloudFormation,
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			ev, err := trigger.Parse(raw)
			require.NoError(t, err)

			e := newEnv(t, falconsim.Options{}, nil)
			var s *cfnServer
			if c, ok := ev.(cfn.Event); ok {
				assert.Contains(t, c.ResponseURL, "X-Amz-Signature", "placeholder presigned URL")
				s = newCFNServer(t)
				var m map[string]any
				require.NoError(t, json.Unmarshal(raw, &m))
				m["ResponseURL"] = s.URL + "/presigned"
				raw, err = json.Marshal(m)
				require.NoError(t, err)
			}
			rep, err := e.invoke(context.Background(), t, raw)
			require.NoError(t, err)
			if w, ok := want[name]; ok {
				assert.Equal(t, w, rep.Trigger)
			}
			if s != nil {
				r := s.one(t).Response
				assert.Equal(t, cfn.StatusSuccess, r.Status, r.Reason)
				if c := ev.(cfn.Event); c.PhysicalResourceID != "" {
					assert.Equal(t, c.PhysicalResourceID, r.PhysicalResourceID)
					assert.Equal(t, trigger.PhysicalResourceID(c.StackID, c.LogicalResourceID), c.PhysicalResourceID,
						"the sample Delete carries the ID its Create would have answered")
				}
			}
			switch {
			case strings.Contains(name, "dry-run"):
				assert.True(t, rep.DryRun)
				assert.Zero(t, e.sim.Stats().Writes())
			case name == "cfn-delete.json":
				assert.Zero(t, e.sim.Stats().Requests)
			case name == "manual-one-account.json":
				assert.Equal(t, 1, rep.Accounts.Eligible)
			}
		})
	}
	for name := range want {
		assert.True(t, seen[name], "deploy/events/%s is missing", name)
	}
}

// A schedule's event parses the same whoever sends it: an EventBridge rule
// (detail {}) or EventBridge Scheduler (detail "{}", a JSON string).
func TestParseScheduledEvents(t *testing.T) {
	for name, tc := range map[string]struct{ payload, source, detail string }{
		"EventBridge rule":      {scheduled, "aws.events", `{}`},
		"EventBridge Scheduler": {scheduledByScheduler, "aws.scheduler", `"{}"`},
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := trigger.Parse([]byte(tc.payload))
			require.NoError(t, err)
			cw, ok := ev.(events.CloudWatchEvent)
			require.True(t, ok, "%T", ev)
			assert.Equal(t, tc.source, cw.Source)
			assert.Equal(t, "Scheduled Event", cw.DetailType)
			assert.JSONEq(t, tc.detail, string(cw.Detail))
		})
	}
}
