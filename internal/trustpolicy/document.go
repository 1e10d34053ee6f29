package trustpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// document is a parsed policy. raw is the whole generic document; stmts
// point into it (their maps are raw's maps), so edits show up in raw.
type document struct {
	raw       map[string]any
	stmts     []*statement
	wasObject bool // Statement was a single object, not an array
	changed   bool // statements were added or removed
}

// statement is one policy statement and what matters about it here.
type statement struct {
	index        int
	m            map[string]any
	allow        bool
	assumeRole   bool     // its actions include sts:AssumeRole
	wildcard     bool     // Principal "*" or AWS "*"
	notPrincipal bool     // NotPrincipal instead of Principal
	aws          []string // Principal.AWS
	notAWS       []string // NotPrincipal.AWS
	ext          extCondition
	removed      bool
}

func parseDocument(doc string) (*document, error) {
	v, err := parseJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("trust policy is not valid JSON: %w", err)
	}
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("trust policy is not a JSON object")
	}
	d := &document{raw: raw}
	var list []any
	switch s := raw["Statement"].(type) {
	case nil:
	case map[string]any:
		list, d.wasObject = []any{s}, true
	case []any:
		list = s
	default:
		return nil, errors.New("trust policy Statement is neither an object nor an array")
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("trust policy statement %d is not an object", i+1)
		}
		s, err := parseStatement(i, m)
		if err != nil {
			return nil, err
		}
		d.stmts = append(d.stmts, s)
	}
	return d, nil
}

func parseStatement(i int, m map[string]any) (*statement, error) {
	s := &statement{index: i, m: m}
	bad := func(field string) error {
		return fmt.Errorf("%s: %s has an unexpected shape", s.label(), field)
	}
	effect, _ := m["Effect"].(string)
	s.allow = effect == "Allow"

	if v, ok := m["Action"]; ok {
		actions, ok := stringList(v)
		if !ok {
			return nil, bad("Action")
		}
		s.assumeRole = slices.ContainsFunc(actions, matchesAssumeRole)
	} else if v, ok := m["NotAction"]; ok {
		actions, ok := stringList(v)
		if !ok {
			return nil, bad("NotAction")
		}
		s.assumeRole = !slices.ContainsFunc(actions, matchesAssumeRole)
	}

	_, s.notPrincipal = m["NotPrincipal"]
	if np, ok := m["NotPrincipal"].(map[string]any); ok {
		if s.notAWS, ok = stringList(np["AWS"]); !ok {
			return nil, bad("NotPrincipal.AWS")
		}
	}
	switch p := m["Principal"].(type) {
	case nil:
	case string:
		s.wildcard = p == "*"
	case map[string]any:
		aws, ok := stringList(p["AWS"])
		if !ok {
			return nil, bad("Principal.AWS")
		}
		s.aws = aws
		s.wildcard = slices.Contains(aws, "*")
	default:
		return nil, bad("Principal")
	}

	if c, ok := m["Condition"]; ok && c != nil {
		cond, ok := c.(map[string]any)
		if !ok {
			return nil, bad("Condition")
		}
		for op, body := range cond {
			keys, ok := body.(map[string]any)
			if !ok {
				return nil, bad("Condition." + op)
			}
			for k, v := range keys {
				if !strings.EqualFold(k, "sts:ExternalId") {
					continue
				}
				vals, ok := stringList(v)
				if !ok {
					return nil, bad("Condition." + op + "." + k)
				}
				s.ext.entries = append(s.ext.entries, extEntry{op: op, values: vals})
			}
		}
		slices.SortFunc(s.ext.entries, func(a, b extEntry) int { return strings.Compare(a.op, b.op) })
	}
	return s, nil
}

func (s *statement) label() string {
	if sid, _ := s.m["Sid"].(string); sid != "" {
		return fmt.Sprintf("statement %d (%q)", s.index+1, sid)
	}
	return fmt.Sprintf("statement %d", s.index+1)
}

// matchesAssumeRole reports whether an IAM action pattern covers
// sts:AssumeRole (actions are case-insensitive; * and ? are wildcards).
func matchesAssumeRole(pattern string) bool {
	return glob(strings.ToLower(pattern), "sts:assumerole")
}

func glob(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// extCondition is every sts:ExternalId entry of a statement's Condition.
type extCondition struct {
	entries []extEntry
}

type extEntry struct {
	op     string
	values []string
}

type extState int

const (
	extMissing extState = iota // no sts:ExternalId condition
	extWeak                    // present, but does not require an ID (IfExists, Not…, IgnoreCase, wildcards)
	extWrong                   // requires a different ID (or accepts others too)
	extOK                      // requires exactly the wanted ID
)

// binding reports whether an entry requires sts:ExternalId to be one of its
// values: StringEquals, or StringLike without wildcards.
func (e extEntry) binding() bool {
	return e.op == "StringEquals" ||
		(e.op == "StringLike" && !slices.ContainsFunc(e.values, func(v string) bool { return strings.ContainsAny(v, "*?") }))
}

// state classifies the condition against the wanted external ID. Condition
// entries are ANDed, so one binding entry with exactly the wanted ID pins
// it; any binding entry with other values means the statement does not work
// with the wanted ID alone.
func (c extCondition) state(want string) extState {
	if len(c.entries) == 0 {
		return extMissing
	}
	ok := false
	for _, e := range c.entries {
		if !e.binding() {
			continue
		}
		if len(e.values) == 1 && e.values[0] == want {
			ok = true
			continue
		}
		return extWrong
	}
	if ok {
		return extOK
	}
	return extWeak
}

// pinned is the one external ID the condition requires, if it requires
// exactly one (every binding entry names that one value, and there is one).
func (c extCondition) pinned() (string, bool) {
	id := ""
	for _, e := range c.entries {
		if !e.binding() {
			continue
		}
		if len(e.values) != 1 || (id != "" && e.values[0] != id) {
			return "", false
		}
		id = e.values[0]
	}
	return id, id != ""
}

// ops are the condition operators sts:ExternalId appears under.
func (c extCondition) ops() []string {
	out := make([]string, len(c.entries))
	for i, e := range c.entries {
		out[i] = e.op
	}
	return out
}

// addAWS adds an AWS principal to the statement (a string becomes an array).
func (s *statement) addAWS(p string) {
	pr, _ := s.m["Principal"].(map[string]any)
	if pr == nil {
		pr = map[string]any{}
		s.m["Principal"] = pr
	}
	switch cur := pr["AWS"].(type) {
	case nil:
		pr["AWS"] = p
	case string:
		pr["AWS"] = []any{cur, p}
	case []any:
		pr["AWS"] = append(cur, p)
	}
	s.aws = append(s.aws, p)
}

// removeAWS removes an AWS principal from s; a statement left with no
// principal at all is removed from the document. One principal left becomes
// a string unless keepList.
func (d *document) removeAWS(s *statement, p string, keepList bool) {
	pr := s.m["Principal"].(map[string]any)
	s.aws = slices.DeleteFunc(s.aws, func(x string) bool { return x == p })
	switch {
	case len(s.aws) > 1 || (len(s.aws) == 1 && keepList):
		pr["AWS"] = toAny(s.aws)
	case len(s.aws) == 1:
		pr["AWS"] = s.aws[0]
	default:
		delete(pr, "AWS")
	}
	if len(pr) == 0 {
		s.removed, d.changed = true, true
	}
}

func (d *document) appendStatement(m map[string]any) {
	d.stmts = append(d.stmts, &statement{index: len(d.stmts), m: m})
	d.changed = true
}

// sync writes the statement list back into raw, keeping a single-object
// Statement an object when it still is the only statement.
func (d *document) sync() {
	if !d.changed {
		return
	}
	var list []any
	for _, s := range d.stmts {
		if !s.removed {
			list = append(list, s.m)
		}
	}
	if d.wasObject && len(list) == 1 {
		d.raw["Statement"] = list[0]
		return
	}
	d.raw["Statement"] = list
	if _, ok := d.raw["Version"]; !ok {
		d.raw["Version"] = "2012-10-17"
	}
}
