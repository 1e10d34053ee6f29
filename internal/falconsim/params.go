package falconsim

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// idsParam collects key from the query as the live API reads it: one ID per
// repeated parameter (ids=a&ids=b). A comma-joined value is one (unknown)
// ID. Blanks are dropped, duplicates removed, order kept.
func idsParam(q url.Values, key string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range q[key] {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// intParam parses a non-negative integer query parameter, returning def
// when absent.
func intParam(q url.Values, key string, def int) (int, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid %s %q: must be a non-negative integer", key, v)
	}
	return n, nil
}

// page returns items[offset:offset+limit], clamped, never nil.
func page(items []string, offset, limit int) []string {
	lo := min(offset, len(items))
	hi := min(offset+limit, len(items))
	return append([]string{}, items[lo:hi]...)
}
