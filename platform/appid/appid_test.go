package appid

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"app-ios", true}, {"App_2", true}, {strings.Repeat("a", 64), true},
		{"", false}, {strings.Repeat("a", 65), false}, {"app.ios", false}, {"app>", false}, {"app*", false}, {"app ios", false},
	}
	for _, tt := range tests {
		if err := Validate(tt.id); (err == nil) != tt.ok {
			t.Errorf("Validate(%q) = %v", tt.id, err)
		}
	}
}
