// Package digitalocean checks deploy/digitalocean without Terraform or a
// DigitalOcean account: the Terraform configuration is parsed with the HCL
// library Terraform itself uses and every reference in it resolved
// (terraform.go), its templates are rendered with the same template engine
// (render.go), and the tests load what they render with compose-go and
// cloud-init's own schema check.
package digitalocean

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Module is one Terraform module directory: what it declares.
type Module struct {
	Dir       string
	Variables map[string]*Variable
	Locals    map[string]*hclsyntax.Attribute
	Resources map[string]*hclsyntax.Block // "type.name"
	Data      map[string]*hclsyntax.Block // "type.name"
	Calls     map[string]*hclsyntax.Block // module "name"
	Outputs   map[string]*hclsyntax.Block
	Children  map[string]*Module // by call name, for local sources
	bodies    []*hclsyntax.Body
}

// Variable is a declared input variable.
type Variable struct {
	Name        string
	Description string
	HasType     bool
	Sensitive   bool
	Default     *cty.Value // nil: required
	Block       *hclsyntax.Block
}

// TemplateCall is one templatefile(path, {…}) call.
type TemplateCall struct {
	Module *Module
	Path   string   // the template file, resolved against the module
	Keys   []string // the names the call passes, sorted
	Range  hcl.Range
}

// LoadModule parses every .tf file of dir, and of each module it calls
// from a local source, with Terraform's native syntax.
func LoadModule(dir string) (*Module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	m := &Module{
		Dir: dir, Variables: map[string]*Variable{}, Locals: map[string]*hclsyntax.Attribute{},
		Resources: map[string]*hclsyntax.Block{}, Data: map[string]*hclsyntax.Block{},
		Calls: map[string]*hclsyntax.Block{}, Outputs: map[string]*hclsyntax.Block{}, Children: map[string]*Module{},
	}
	parser := hclparse.NewParser()
	var errs []string
	for _, f := range files {
		file, diags := parser.ParseHCLFile(f)
		if diags.HasErrors() {
			errs = append(errs, diags.Error())
			continue
		}
		body := file.Body.(*hclsyntax.Body)
		m.bodies = append(m.bodies, body)
		if len(body.Attributes) > 0 {
			errs = append(errs, fmt.Sprintf("%s: attributes at the top level", f))
		}
		for _, b := range body.Blocks {
			if err := m.declare(b); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	for name, call := range m.Calls {
		src, ok := literalString(call.Body.Attributes["source"])
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: module %q: source must be a literal string", call.DefRange(), name))
			continue
		}
		if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
			continue // a registry module: nothing here to resolve against
		}
		child, err := LoadModule(filepath.Join(dir, src))
		if err != nil {
			errs = append(errs, fmt.Sprintf("module %q: %v", name, err))
			continue
		}
		m.Children[name] = child
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return m, nil
}

func (m *Module) declare(b *hclsyntax.Block) error {
	dup := func(kind, name string) error { return fmt.Errorf("%s: %s %q declared twice", b.DefRange(), kind, name) }
	switch b.Type {
	case "variable":
		name := b.Labels[0]
		if _, ok := m.Variables[name]; ok {
			return dup("variable", name)
		}
		v := &Variable{Name: name, Block: b}
		v.Description, _ = literalString(b.Body.Attributes["description"])
		_, v.HasType = b.Body.Attributes["type"]
		if a, ok := b.Body.Attributes["sensitive"]; ok {
			val, diags := a.Expr.Value(nil)
			v.Sensitive = !diags.HasErrors() && val.Type() == cty.Bool && val.True()
		}
		if a, ok := b.Body.Attributes["default"]; ok {
			val, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return fmt.Errorf("%s: variable %q: the default must be a constant: %s", a.SrcRange, name, diags.Error())
			}
			v.Default = &val
		}
		m.Variables[name] = v
	case "locals":
		for name, a := range b.Body.Attributes {
			if _, ok := m.Locals[name]; ok {
				return dup("local", name)
			}
			m.Locals[name] = a
		}
	case "resource", "data":
		into := m.Resources
		if b.Type == "data" {
			into = m.Data
		}
		key := b.Labels[0] + "." + b.Labels[1]
		if _, ok := into[key]; ok {
			return dup(b.Type, key)
		}
		into[key] = b
	case "module":
		if _, ok := m.Calls[b.Labels[0]]; ok {
			return dup("module", b.Labels[0])
		}
		m.Calls[b.Labels[0]] = b
	case "output":
		if _, ok := m.Outputs[b.Labels[0]]; ok {
			return dup("output", b.Labels[0])
		}
		m.Outputs[b.Labels[0]] = b
	case "terraform", "provider", "moved", "import", "check", "removed":
	default:
		return fmt.Errorf("%s: unknown top-level block %q", b.DefRange(), b.Type)
	}
	return nil
}

// scope is what a name may refer to where an expression stands.
type scope struct {
	count, forEach bool            // inside a resource or module with count / for_each
	iterators      map[string]bool // dynamic block iterators in force
}

// Check resolves every reference of the module and of its children: each
// var., local., module.<name>.<output>, data.<type>.<name> and
// <resource type>.<name> must be declared; count. and each. only where the
// block has count or for_each; functions must be Terraform's; module calls
// must pass exactly declared inputs and every required one; every
// templatefile() must name a template that exists and pass it exactly the
// names it uses. Every variable and local must be used.
func (m *Module) Check() []error {
	c := &checker{m: m, usedVars: map[string]bool{}, usedLocals: map[string]bool{}}
	for _, body := range m.bodies {
		for _, b := range body.Blocks {
			c.block(b, scope{})
		}
	}
	for name, v := range m.Variables {
		if !c.usedVars[name] {
			c.errorf(v.Block.DefRange(), "variable %q is never used", name)
		}
	}
	for name, a := range m.Locals {
		if !c.usedLocals[name] {
			c.errorf(a.SrcRange, "local %q is never used", name)
		}
	}
	for name, call := range m.Calls {
		child := m.Children[name]
		if child == nil {
			continue
		}
		for arg, a := range call.Body.Attributes {
			if slices.Contains([]string{"source", "version", "count", "for_each", "providers", "depends_on"}, arg) {
				continue
			}
			if _, ok := child.Variables[arg]; !ok {
				c.errorf(a.SrcRange, "module %q: %s is not a variable of %s", name, arg, child.Dir)
			}
		}
		for vn, v := range child.Variables {
			if _, ok := call.Body.Attributes[vn]; !ok && v.Default == nil {
				c.errorf(call.DefRange(), "module %q: required variable %s not given", name, vn)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Children)) {
		c.errs = append(c.errs, m.Children[name].Check()...)
	}
	return c.errs
}

type checker struct {
	m          *Module
	errs       []error
	usedVars   map[string]bool
	usedLocals map[string]bool
}

func (c *checker) errorf(r hcl.Range, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", r, fmt.Sprintf(format, args...)))
}

func (c *checker) block(b *hclsyntax.Block, s scope) {
	switch b.Type {
	case "terraform", "provider":
		return // settings, no references
	case "variable":
		for name, a := range b.Body.Attributes {
			if name != "type" { // a type constraint, not an expression
				c.expr(a.Expr, s)
			}
		}
		for _, nb := range b.Body.Blocks {
			c.block(nb, s)
		}
		return
	case "resource", "data", "module":
		_, s.count = b.Body.Attributes["count"]
		_, s.forEach = b.Body.Attributes["for_each"]
	case "lifecycle":
		for name, a := range b.Body.Attributes {
			if name != "ignore_changes" && name != "replace_triggered_by" {
				c.expr(a.Expr, s)
			}
		}
		return
	case "dynamic":
		it := b.Labels[0]
		if a, ok := b.Body.Attributes["iterator"]; ok {
			it = hcl.ExprAsKeyword(a.Expr)
		}
		if a, ok := b.Body.Attributes["for_each"]; ok {
			c.expr(a.Expr, s)
		}
		inner := scope{count: s.count, forEach: s.forEach, iterators: maps.Clone(s.iterators)}
		if inner.iterators == nil {
			inner.iterators = map[string]bool{}
		}
		inner.iterators[it] = true
		for _, nb := range b.Body.Blocks {
			c.block(nb, inner)
		}
		return
	}
	for name, a := range b.Body.Attributes {
		if b.Type == "module" && name == "source" {
			continue
		}
		c.expr(a.Expr, s)
	}
	for _, nb := range b.Body.Blocks {
		c.block(nb, s)
	}
}

func (c *checker) expr(e hclsyntax.Expression, s scope) {
	for _, t := range hclsyntax.Variables(e) {
		c.traversal(t, s)
	}
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.FunctionCallExpr:
			if !terraformFunctions[n.Name] {
				c.errorf(n.NameRange, "unknown function %s()", n.Name)
			}
			if n.Name == "templatefile" {
				if _, err := c.m.templateCall(n); err != nil {
					c.errorf(n.Range(), "%v", err)
				}
			}
		case *hclsyntax.SplatExpr:
			// module.x[*].output: the output must exist.
			src, ok1 := n.Source.(*hclsyntax.ScopeTraversalExpr)
			each, ok2 := n.Each.(*hclsyntax.RelativeTraversalExpr)
			if ok1 && ok2 && len(src.Traversal) == 2 && src.Traversal.RootName() == "module" && len(each.Traversal) > 0 {
				call, _ := src.Traversal[1].(hcl.TraverseAttr)
				out, ok := each.Traversal[0].(hcl.TraverseAttr)
				if child := c.m.Children[call.Name]; ok && child != nil {
					if _, declared := child.Outputs[out.Name]; !declared {
						c.errorf(each.SrcRange, "module %q has no output %q", call.Name, out.Name)
					}
				}
			}
		}
		return nil
	})
}

func (c *checker) traversal(t hcl.Traversal, s scope) {
	root := t.RootName()
	attr := func(i int) (string, bool) {
		if len(t) <= i {
			return "", false
		}
		a, ok := t[i].(hcl.TraverseAttr)
		return a.Name, ok
	}
	r := t.SourceRange()
	switch {
	case root == "var":
		name, _ := attr(1)
		if _, ok := c.m.Variables[name]; !ok {
			c.errorf(r, "var.%s is not declared", name)
		}
		c.usedVars[name] = true
	case root == "local":
		name, _ := attr(1)
		if _, ok := c.m.Locals[name]; !ok {
			c.errorf(r, "local.%s is not declared", name)
		}
		c.usedLocals[name] = true
	case root == "module":
		name, _ := attr(1)
		if _, ok := c.m.Calls[name]; !ok {
			c.errorf(r, "module.%s is not declared", name)
			return
		}
		if out, ok := attr(2); ok {
			if child := c.m.Children[name]; child != nil {
				if _, declared := child.Outputs[out]; !declared {
					c.errorf(r, "module %q has no output %q", name, out)
				}
			}
		}
	case root == "data":
		typ, _ := attr(1)
		name, _ := attr(2)
		if _, ok := c.m.Data[typ+"."+name]; !ok {
			c.errorf(r, "data.%s.%s is not declared", typ, name)
		}
	case root == "path":
		if name, _ := attr(1); name != "module" && name != "root" && name != "cwd" {
			c.errorf(r, "path.%s: want path.module, path.root or path.cwd", name)
		}
	case root == "terraform":
		if name, _ := attr(1); name != "workspace" {
			c.errorf(r, "terraform.%s: only terraform.workspace exists", name)
		}
	case root == "count":
		if !s.count {
			c.errorf(r, "count.index outside a block with count")
		}
	case root == "each":
		if !s.forEach {
			c.errorf(r, "each.%s outside a block with for_each", func() string { n, _ := attr(1); return n }())
		}
	case s.iterators[root]:
	case strings.Contains(root, "_"):
		name, _ := attr(1)
		if _, ok := c.m.Resources[root+"."+name]; !ok {
			c.errorf(r, "%s.%s is not a declared resource", root, name)
		}
	default:
		c.errorf(r, "%s: not a reference Terraform knows", root)
	}
}

// templateCall resolves a templatefile() call: the template's path and the
// names passed, checked against the names the template uses.
func (m *Module) templateCall(call *hclsyntax.FunctionCallExpr) (TemplateCall, error) {
	tc := TemplateCall{Module: m, Range: call.Range()}
	if len(call.Args) != 2 {
		return tc, fmt.Errorf("templatefile: want 2 arguments, have %d", len(call.Args))
	}
	pathExpr := call.Args[0]
	if st, ok := pathExpr.(*hclsyntax.ScopeTraversalExpr); ok && st.Traversal.RootName() == "local" && len(st.Traversal) == 2 {
		name := st.Traversal[1].(hcl.TraverseAttr).Name
		if a, ok := m.Locals[name]; ok {
			pathExpr = a.Expr
		}
	}
	pathVal, diags := pathExpr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{
		"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.Dir)}),
	}})
	if diags.HasErrors() || pathVal.Type() != cty.String {
		return tc, fmt.Errorf("templatefile: the path must be built from path.module and literals: %s", diags.Error())
	}
	tc.Path = filepath.Clean(pathVal.AsString())
	obj, ok := call.Args[1].(*hclsyntax.ObjectConsExpr)
	if !ok {
		return tc, fmt.Errorf("templatefile %s: the variables must be an object literal", tc.Path)
	}
	for _, item := range obj.Items {
		key := hcl.ExprAsKeyword(item.KeyExpr)
		if key == "" {
			return tc, fmt.Errorf("templatefile %s: variable names must be bare words", tc.Path)
		}
		tc.Keys = append(tc.Keys, key)
	}
	sort.Strings(tc.Keys)
	uses, err := TemplateVariables(tc.Path)
	if err != nil {
		return tc, err
	}
	if !slices.Equal(uses, tc.Keys) {
		return tc, fmt.Errorf("templatefile %s: passes %v, the template uses %v", tc.Path, tc.Keys, uses)
	}
	return tc, nil
}

// TemplateCalls lists every templatefile() call of the module and its
// children, in file order.
func (m *Module) TemplateCalls() ([]TemplateCall, error) {
	var calls []TemplateCall
	var errs []string
	for _, body := range m.bodies {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if f, ok := n.(*hclsyntax.FunctionCallExpr); ok && f.Name == "templatefile" {
				tc, err := m.templateCall(f)
				if err != nil {
					errs = append(errs, err.Error())
				}
				calls = append(calls, tc)
			}
			return nil
		})
	}
	for _, name := range slices.Sorted(maps.Keys(m.Children)) {
		cc, err := m.Children[name].TemplateCalls()
		if err != nil {
			errs = append(errs, err.Error())
		}
		calls = append(calls, cc...)
	}
	if len(errs) > 0 {
		return calls, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return calls, nil
}

// TemplateVariables parses a template file and returns the names it uses
// (the root of every reference not bound by a for directive), sorted. Its
// functions must be ones Terraform offers templates.
func TemplateVariables(path string) ([]string, error) {
	tmpl, err := parseTemplate(path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, t := range hclsyntax.Variables(tmpl) {
		seen[t.RootName()] = true
	}
	var bad []string
	hclsyntax.VisitAll(tmpl, func(n hclsyntax.Node) hcl.Diagnostics {
		if f, ok := n.(*hclsyntax.FunctionCallExpr); ok && (!terraformFunctions[f.Name] || f.Name == "templatefile") {
			bad = append(bad, f.Name)
		}
		return nil
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: functions templates cannot call: %v", path, bad)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

func parseTemplate(path string) (hclsyntax.Expression, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	tmpl, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("template %s: %s", path, diags.Error())
	}
	return tmpl, nil
}

func literalString(a *hclsyntax.Attribute) (string, bool) {
	if a == nil {
		return "", false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}

// terraformFunctions are the built-in functions of Terraform 1.6+.
var terraformFunctions = setOf(
	"abs", "abspath", "alltrue", "anytrue", "base64decode", "base64encode", "base64gzip", "base64sha256",
	"base64sha512", "basename", "bcrypt", "can", "ceil", "chomp", "chunklist", "cidrhost", "cidrnetmask",
	"cidrsubnet", "cidrsubnets", "coalesce", "coalescelist", "compact", "concat", "contains", "csvdecode",
	"dirname", "distinct", "element", "endswith", "file", "filebase64", "filebase64sha256", "filebase64sha512",
	"fileexists", "filemd5", "fileset", "filesha1", "filesha256", "filesha512", "flatten", "floor", "format",
	"formatdate", "formatlist", "indent", "index", "issensitive", "join", "jsondecode", "jsonencode", "keys",
	"length", "list", "log", "lookup", "lower", "map", "matchkeys", "max", "md5", "merge", "min", "nonsensitive",
	"one", "parseint", "pathexpand", "plantimestamp", "pow", "range", "regex", "regexall", "replace", "reverse",
	"rsadecrypt", "sensitive", "setintersection", "setproduct", "setsubtract", "setunion", "sha1", "sha256",
	"sha512", "signum", "slice", "sort", "split", "startswith", "strcontains", "strrev", "substr", "sum",
	"templatefile", "textdecodebase64", "textencodebase64", "timeadd", "timecmp", "timestamp", "title",
	"tobool", "tolist", "tomap", "tonumber", "toset", "tostring", "transpose", "trim", "trimprefix",
	"trimspace", "trimsuffix", "try", "type", "upper", "urlencode", "uuid", "uuidv5", "values", "yamldecode",
	"yamlencode", "zipmap",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
