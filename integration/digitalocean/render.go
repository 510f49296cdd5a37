package digitalocean

import (
	"encoding/base64"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Render renders a template file as Terraform's templatefile() does, with
// vars as its variables. Of Terraform's functions it offers those the
// project's templates call (TemplateVariables rejects any other).
func Render(path string, vars map[string]cty.Value) (string, error) {
	tmpl, err := parseTemplate(path)
	if err != nil {
		return "", err
	}
	v, diags := tmpl.Value(&hcl.EvalContext{Variables: vars, Functions: templateFunctions})
	if diags.HasErrors() {
		return "", fmt.Errorf("render %s: %s", path, diags.Error())
	}
	if v.Type() != cty.String || v.IsNull() || !v.IsKnown() {
		return "", fmt.Errorf("render %s: the result is %s, not a string", path, v.Type().FriendlyName())
	}
	return v.AsString(), nil
}

var templateFunctions = map[string]function.Function{
	"base64encode": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
		},
	}),
	"format":     stdlib.FormatFunc,
	"join":       stdlib.JoinFunc,
	"jsonencode": stdlib.JSONEncodeFunc,
	"length":     stdlib.LengthFunc,
}
