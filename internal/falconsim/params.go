package falconsim

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// idsParam collects key from the query, accepting both repeated parameters
// (collectionFormat multi, as gofalcon sends for account ids) and
// comma-separated values (csv). Blanks are dropped, duplicates removed,
// order kept.
func idsParam(q url.Values, key string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range q[key] {
		for _, id := range strings.Split(v, ",") {
			id = strings.TrimSpace(id)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, id)
		}
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
