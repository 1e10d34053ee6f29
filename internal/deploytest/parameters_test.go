package deploytest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
)

// loadConfig is config.Load of env with a credential set (as the stack's secret does).
func loadConfig(env map[string]string) (config.Config, error) {
	return config.Load(func(k string) string {
		if k == "FALCON_CLIENT_ID" || k == "FALCON_CLIENT_SECRET" {
			return "x"
		}
		return env[k]
	})
}

// TestMemberCIDIsTheConfigRule: the stack accepts exactly the CIDs
// FALCON_MEMBER_CID accepts, so a deploy never starts a function that
// refuses its own configuration.
func TestMemberCIDIsTheConfigRule(t *testing.T) {
	d := loadTemplate(t)
	p := d.typed.Parameters["FalconMemberCid"]
	re := regexp.MustCompile(*p.AllowedPattern)
	cid := "0123456789abcdef0123456789ABCDEF"
	for _, v := range []string{"", cid, cid + "-a7", cid + "-A7", strings.ToLower(cid) + "-00",
		cid[:31], cid + "0", cid + "-", cid + "-a", cid + "-a7b", cid + "-zz", "g" + cid[1:], " " + cid, cid + "\n", "child"} {
		_, err := loadConfig(map[string]string{"FALCON_MEMBER_CID": v})
		// config trims surrounding blanks; CloudFormation would pass them on: the stack refuses them.
		configOK := err == nil && strings.TrimSpace(v) == v
		assert.Equal(t, configOK, re.MatchString(v), "%q (config: %v)", v, err)
	}
	assert.Equal(t, "", p.Default)
}

// TestTrustPropagationWaitIsTheConfigRule: the stack's default is
// config's, and every value the stack accepts up to 10m is one
// TRUST_PROPAGATION_WAIT accepts, as the same duration (the stack accepts
// fewer spellings: no sign, no µs). Above 10m the function refuses it at
// cold start, naming the variable: a bound a pattern cannot say.
func TestTrustPropagationWaitIsTheConfigRule(t *testing.T) {
	d := loadTemplate(t)
	p := d.typed.Parameters["TrustPropagationWait"]
	re := regexp.MustCompile(*p.AllowedPattern)
	def, err := time.ParseDuration(stringOf(p.Default))
	require.NoError(t, err)
	assert.Equal(t, config.DefaultTrustPropagationWait, def)

	// Values of every shape the pattern accepts: a number and a unit, and two of them.
	values := []string{"0", "1m30s", "0m75s", "1h0m", "9m59.5s"}
	for _, n := range []string{"0", "1", "1.5", "10", "75", "600", "90000"} {
		for _, unit := range []string{"ms", "s", "m", "h"} {
			values = append(values, n+unit)
		}
	}
	for _, v := range values {
		c, err := loadConfig(map[string]string{"TRUST_PROPAGATION_WAIT": v})
		require.True(t, re.MatchString(v), "%q", v)
		switch {
		case v == "0":
			assert.NoError(t, err)
			assert.Zero(t, c.TrustPropagationWait)
		default:
			want, perr := time.ParseDuration(v)
			require.NoError(t, perr, "%q: the stack's pattern accepts only Go durations", v)
			if want > config.MaxTrustPropagationWait {
				assert.Error(t, err, "%q: above the bound", v)
				continue
			}
			if assert.NoError(t, err, "%q", v) {
				assert.Equal(t, want, c.TrustPropagationWait, "%q", v)
			}
		}
	}
}
