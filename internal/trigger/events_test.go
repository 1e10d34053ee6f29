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
// and runs against the simulator. The CloudFormation samples are safe to
// paste: a deployed function, whose stack is never the samples' sample
// stack, refuses them (no Falcon API call, nothing PUT) even with
// DISCONNECT_ON_DELETE; a function of that stack answers them, at a
// ResponseURL of one's own.
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
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		ev, err := trigger.Parse(raw)
		require.NoError(t, err, name)
		c, isCFN := ev.(cfn.Event)

		t.Run(name+" pasted into a deployed function", func(t *testing.T) {
			e := newEnv(t, falconsim.Options{}, nil)
			e.h.DisconnectOnDelete = true
			e.h.Resource = trigger.CustomResource{StackID: "arn:aws:cloudformation:eu-west-1:210987654321:stack/prod-onboarding/7c6d5e4f-1111-11f0-8a8a-0a1b2c3d4e5f", LogicalID: testLogicalID}
			_, err := e.invoke(context.Background(), t, []byte(scheduled))
			require.NoError(t, err)
			before := e.sim.Registries()
			e.sim.ResetStats()

			rep, err := e.invoke(context.Background(), t, raw)

			if !isCFN {
				require.NoError(t, err)
				assert.Equal(t, want[name], rep.Trigger)
				return
			}
			assert.Contains(t, c.ResponseURL, "X-Amz-Signature=PLACEHOLDER", "a placeholder presigned URL")
			require.Error(t, err)
			assert.Equal(t, "ForeignCustomResource", errorType(err))
			assert.Zero(t, e.sim.Stats().Requests, "no Falcon API call")
			assert.Equal(t, before, e.sim.Registries(), "nothing disconnected")
		})

		t.Run(name+" in the sample stack", func(t *testing.T) {
			e := newEnv(t, falconsim.Options{}, nil)
			var s *cfnServer
			if isCFN {
				require.Equal(t, ownResource, trigger.CustomResource{StackID: c.StackID, LogicalID: c.LogicalResourceID},
					"the samples are requests of the test stack's resource")
				s = newCFNServer(t)
				var m map[string]any
				require.NoError(t, json.Unmarshal(raw, &m))
				m["ResponseURL"] = s.URL + "/presigned"
				raw, err = json.Marshal(m)
				require.NoError(t, err)
			}
			rep, err := e.invoke(context.Background(), t, raw)
			require.NoError(t, err)
			assert.Equal(t, want[name], rep.Trigger)
			if s != nil {
				r := s.one(t).Response
				assert.Equal(t, cfn.StatusSuccess, r.Status, r.Reason)
				if c.PhysicalResourceID != "" {
					assert.Equal(t, c.PhysicalResourceID, r.PhysicalResourceID)
					assert.Equal(t, ownResource.PhysicalID(), c.PhysicalResourceID,
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
