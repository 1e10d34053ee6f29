// Package jsonlog is the logger every function of this project logs
// through (cmd/lambda, cmd/member-setup, the CLI): log/slog's JSON lines,
// with one value per key on every line. slog's JSONHandler writes whatever
// it is given, so a key set by Logger.With and again at the call site
// appears twice on one line, and CloudWatch Logs Insights (like most JSON
// readers) then keeps only one of the two. Here the later value wins, in
// the place of the first: what the call site says about this line refines
// what the logger said about the request.
package jsonlog

import (
	"context"
	"io"
	"log/slog"
	"slices"
)

// New is a JSON-lines logger on w at level: time, level, msg, then the
// attributes, each key once per object. An attribute named like one of the
// three built-in keys is written as "attr_" + its key, so that it cannot
// repeat them either.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&handler{inner: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), root: &node{}})
}

// builtIn are the keys slog's JSONHandler writes itself (source only with
// AddSource, which is not used: it is reserved all the same).
var builtIn = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey}

// handler keeps the attributes given to WithAttrs and the groups opened by
// WithGroup itself, merges them with each record's attributes, and passes
// the inner JSONHandler a record that holds every key once.
type handler struct {
	inner slog.Handler // never given attributes or groups
	root  *node        // attributes so far; never changed once shared
	group []string     // the open groups (WithGroup), outermost first
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	root := h.root.clone()
	root.at(h.group).add(as...)
	return &handler{inner: h.inner, root: root, group: h.group}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{inner: h.inner, root: h.root, group: append(slices.Clip(h.group), name)}
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	root := h.root.clone()
	inner := root.at(h.group)
	r.Attrs(func(a slog.Attr) bool {
		inner.add(a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	for _, a := range root.attrs() {
		if slices.Contains(builtIn, a.Key) {
			a.Key = "attr_" + a.Key
		}
		out.AddAttrs(a)
	}
	return h.inner.Handle(ctx, out)
}

// node is one object of a line: its keys in first-seen order, each with a
// value or a nested group.
type node struct {
	keys []string
	vals map[string]entry
}

type entry struct {
	value slog.Value
	group *node // set for a group; value is unused then
}

// add sets each attribute (resolved), the later value of a key replacing
// the earlier; groups of one key are merged; an empty group is nothing and
// a group without a key is inlined, as slog does.
func (n *node) add(as ...slog.Attr) {
	for _, a := range as {
		v := a.Value.Resolve()
		if v.Kind() != slog.KindGroup {
			if a.Key != "" {
				n.set(a.Key, entry{value: v})
			}
			continue
		}
		members := v.Group()
		switch {
		case len(members) == 0:
		case a.Key == "":
			n.add(members...)
		default:
			n.child(a.Key).add(members...)
		}
	}
}

func (n *node) set(key string, e entry) {
	if n.vals == nil {
		n.vals = map[string]entry{}
	}
	if _, ok := n.vals[key]; !ok {
		n.keys = append(n.keys, key)
	}
	n.vals[key] = e
}

// child is the group under key, made (or replacing a plain value) if need be.
func (n *node) child(key string) *node {
	if e, ok := n.vals[key]; ok && e.group != nil {
		return e.group
	}
	g := &node{}
	n.set(key, entry{group: g})
	return g
}

// at is the group at path, made if need be.
func (n *node) at(path []string) *node {
	for _, k := range path {
		n = n.child(k)
	}
	return n
}

func (n *node) clone() *node {
	c := &node{keys: slices.Clone(n.keys), vals: make(map[string]entry, len(n.vals))}
	for k, e := range n.vals {
		if e.group != nil {
			e.group = e.group.clone()
		}
		c.vals[k] = e
	}
	return c
}

// attrs are the node's attributes; groups left empty are dropped, as slog
// drops them.
func (n *node) attrs() []slog.Attr {
	out := make([]slog.Attr, 0, len(n.keys))
	for _, k := range n.keys {
		e := n.vals[k]
		if e.group == nil {
			out = append(out, slog.Attr{Key: k, Value: e.value})
			continue
		}
		if members := e.group.attrs(); len(members) > 0 {
			out = append(out, slog.Attr{Key: k, Value: slog.GroupValue(members...)})
		}
	}
	return out
}
