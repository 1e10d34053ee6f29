package jsonlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneValuePerKey: a key the logger carries and the call site sets again
// is written once, with the call site's value, where it first appeared;
// groups of one name merge; built-in keys are never repeated.
func TestOneValuePerKey(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	req := log.With("request_type", "Create", "physical_resource_id", "", "n", 1)
	req.Info("done", "physical_resource_id", "ecr-onboard-member/abc", "n", 2, "extra", true)
	req.With(slog.Group("data", "a", 1)).Info("grouped", slog.Group("data", "a", 2, "b", 3))
	log.WithGroup("g").With("k", "v1").Info("in a group", "k", "v2")
	log.Info("built-in keys", "msg", "mine", "level", "x", "time", "t", "source", "s")
	log.With("x", 1).Info("value becomes group", slog.Group("x", "y", 2))
	log.WithGroup("empty").Info("nothing in the group")
	log.Debug("below the level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 6)
	assert.Empty(t, CheckLines(buf.String()))
	assert.Contains(t, lines[0], `"msg":"done","request_type":"Create","physical_resource_id":"ecr-onboard-member/abc","n":2,"extra":true}`)
	assert.Contains(t, lines[1], `"data":{"a":2,"b":3}}`)
	assert.Contains(t, lines[2], `"msg":"in a group","g":{"k":"v2"}}`)
	assert.Contains(t, lines[3], `"msg":"built-in keys","attr_msg":"mine","attr_level":"x","attr_time":"t","attr_source":"s"}`)
	assert.Contains(t, lines[4], `"x":{"y":2}}`)
	assert.True(t, strings.HasSuffix(lines[5], `"msg":"nothing in the group"}`), lines[5])
}

// TestSlogHandlerContract runs the standard library's conformance test of
// slog handlers (its checks on repeated keys aside, none of which it makes).
func TestSlogHandlerContract(t *testing.T) {
	var buf bytes.Buffer
	h := New(&buf, slog.LevelDebug).Handler()
	results := func() []map[string]any {
		var out []map[string]any
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(line, &m))
			out = append(out, m)
		}
		return out
	}
	require.NoError(t, slogtest.TestHandler(h, results))
}

func TestRepeatedKeys(t *testing.T) {
	for line, want := range map[string][]string{
		`{"a":1,"b":2}`: nil,
		`{"a":1,"a":2}`: {"a"},
		`{"a":{"x":1,"x":2},"b":[{"y":1,"y":1}]}`:   {"a.x", "b[0].y"},
		`{"a":1,"b":{"a":1},"a":{"c":[1,2]},"b":0}`: {"a", "b"},
		`[{"k":1},{"k":1}]`:                         nil,
	} {
		got, err := RepeatedKeys([]byte(line))
		require.NoError(t, err, line)
		assert.Equal(t, want, got, line)
	}
	for _, bad := range []string{``, `{"a":`, `{"a":1} x`, `not json`} {
		_, err := RepeatedKeys([]byte(bad))
		assert.Error(t, err, bad)
	}
	assert.Contains(t, CheckLines("{\"a\":1}\n\n{\"a\":1,\"a\":1}\nplain text\n"), "repeated key(s) a:")
	assert.Contains(t, CheckLines("plain text"), "not a JSON line")
}
