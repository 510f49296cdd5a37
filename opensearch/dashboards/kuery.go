package dashboards

import (
	"fmt"
	"strings"
)

// Kuery is a parsed DQL (Dashboards Query Language, "kuery") query of the
// subset the saved objects use: field:value, field:"quoted value",
// field:* (exists), field:wild*card, field:(a or b), and, or, not and
// parentheses. Free text without a field, ranges (field > 1) and nested
// field syntax are refused: the translation would have to guess. Extend the
// parser (and its table test) before using them in a saved object.
type Kuery struct {
	Op       string // "and", "or", "not", or "match"
	Children []*Kuery
	Field    string
	Value    string
	Quoted   bool
}

// ParseKuery parses s; an empty query is nil.
func ParseKuery(s string) (*Kuery, error) {
	toks, err := lexKuery(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, nil
	}
	p := &kueryParser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", s, err)
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("query %q: unexpected %q", s, p.toks[p.pos].text)
	}
	return n, nil
}

// Fields lists the fields the query names, in order of appearance.
func (k *Kuery) Fields() []string {
	if k == nil {
		return nil
	}
	if k.Op == "match" {
		return []string{k.Field}
	}
	var out []string
	for _, c := range k.Children {
		out = append(out, c.Fields()...)
	}
	return out
}

// DSL is the OpenSearch query Dashboards builds for k (nil for none):
// and → bool.filter, or → bool.should, not → bool.must_not; a quoted value
// is a match_phrase, an unquoted one a match, * alone an exists and a value
// with wildcards a query_string on the field.
func (k *Kuery) DSL() map[string]any {
	if k == nil {
		return nil
	}
	var subs []any
	for _, c := range k.Children {
		subs = append(subs, c.DSL())
	}
	switch k.Op {
	case "and":
		return m{"bool": m{"filter": subs}}
	case "or":
		return m{"bool": m{"should": subs, "minimum_should_match": 1}}
	case "not":
		return m{"bool": m{"must_not": subs}}
	}
	switch {
	case k.Quoted:
		return m{"match_phrase": m{k.Field: k.Value}}
	case k.Value == "*":
		return m{"exists": m{"field": k.Field}}
	case strings.Contains(k.Value, "*"):
		return m{"query_string": m{"fields": []any{k.Field}, "query": k.Value}}
	}
	return m{"match": m{k.Field: k.Value}}
}

type m = map[string]any

type kueryToken struct {
	text   string
	quoted bool
	kind   byte // '(', ')', ':', 'w' (word or quoted string)
}

func lexKuery(s string) ([]kueryToken, error) {
	var toks []kueryToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ':':
			toks = append(toks, kueryToken{text: string(c), kind: c})
			i++
		case c == '<' || c == '>':
			return nil, fmt.Errorf("range queries are not supported by this translator")
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			i++
			toks = append(toks, kueryToken{text: b.String(), quoted: true, kind: 'w'})
		default:
			var b strings.Builder
			for ; i < len(s) && !strings.ContainsRune(" \t\n\r():\"<>", rune(s[i])); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			toks = append(toks, kueryToken{text: b.String(), kind: 'w'})
		}
	}
	return toks, nil
}

type kueryParser struct {
	toks []kueryToken
	pos  int
}

func (p *kueryParser) keyword(word string) bool {
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		if t.kind == 'w' && !t.quoted && strings.EqualFold(t.text, word) {
			p.pos++
			return true
		}
	}
	return false
}

func (p *kueryParser) next(kind byte) (kueryToken, error) {
	if p.pos >= len(p.toks) {
		return kueryToken{}, fmt.Errorf("unexpected end, want %q", string(kind))
	}
	t := p.toks[p.pos]
	if t.kind != kind {
		return kueryToken{}, fmt.Errorf("unexpected %q", t.text)
	}
	p.pos++
	return t, nil
}

func (p *kueryParser) or() (*Kuery, error) {
	return p.list("or", p.and)
}

func (p *kueryParser) and() (*Kuery, error) {
	return p.list("and", p.not)
}

func (p *kueryParser) list(op string, sub func() (*Kuery, error)) (*Kuery, error) {
	first, err := sub()
	if err != nil {
		return nil, err
	}
	n := &Kuery{Op: op, Children: []*Kuery{first}}
	for p.keyword(op) {
		c, err := sub()
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, c)
	}
	if len(n.Children) == 1 {
		return first, nil
	}
	return n, nil
}

func (p *kueryParser) not() (*Kuery, error) {
	if p.keyword("not") {
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Kuery{Op: "not", Children: []*Kuery{c}}, nil
	}
	return p.primary()
}

func (p *kueryParser) primary() (*Kuery, error) {
	if p.pos < len(p.toks) && p.toks[p.pos].kind == '(' {
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if _, err := p.next(')'); err != nil {
			return nil, err
		}
		return n, nil
	}
	field, err := p.next('w')
	if err != nil {
		return nil, err
	}
	if field.quoted {
		return nil, fmt.Errorf("free text %q: name a field (field:value)", field.text)
	}
	if _, err := p.next(':'); err != nil {
		return nil, fmt.Errorf("free text %q is not supported: name a field (field:value)", field.text)
	}
	if p.pos < len(p.toks) && p.toks[p.pos].kind == '(' { // field:(a or b)
		p.pos++
		n := &Kuery{Op: "or"}
		for {
			v, err := p.next('w')
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, &Kuery{Op: "match", Field: field.text, Value: v.text, Quoted: v.quoted})
			if !p.keyword("or") {
				break
			}
		}
		if _, err := p.next(')'); err != nil {
			return nil, err
		}
		if len(n.Children) == 1 {
			return n.Children[0], nil
		}
		return n, nil
	}
	v, err := p.next('w')
	if err != nil {
		return nil, err
	}
	return &Kuery{Op: "match", Field: field.text, Value: v.text, Quoted: v.quoted}, nil
}
