package onboard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Each way a prefix breaks the rule is said, and only those.
func TestCheckAliasPrefixSaysWhatIsWrong(t *testing.T) {
	long := strings.Repeat("p", MaxAliasPrefixLength+1)
	for prefix, want := range map[string][]string{
		"ecr-onboard": nil,
		"A.b_c-9":     nil,
		strings.Repeat("p", MaxAliasPrefixLength): nil,
		"":         {"empty"},
		"-team":    {`starts with '-': the first character must be a letter or a digit`},
		"_team":    {`starts with '_'`},
		"team a":   {`has ' ' (character 5): only letters, digits, '.', '-' and '_' are allowed`},
		"team/a":   {`has '/' (character 5)`},
		"équipe":   {`starts with 'é'`},
		"te€m":     {`has '€' (character 3)`},
		long:       {"is 61 characters long, more than 60: the alias {prefix}-{account}-{region}-{fingerprint} must fit in 100"},
		"-" + long: {"starts with '-'", "is 62 characters long"},
	} {
		err := CheckAliasPrefix(prefix)
		assert.Equal(t, err == nil, validPrefix(prefix), "%q", prefix)
		if want == nil {
			assert.NoError(t, err, "%q", prefix)
			continue
		}
		if assert.Error(t, err, "%q", prefix) {
			for _, w := range want {
				assert.Contains(t, err.Error(), w, "%q", prefix)
			}
			assert.Equal(t, len(want), strings.Count(err.Error(), ";")+1, "%q: one problem each: %v", prefix, err)
		}
	}
}
