package pipeline

import (
	"encoding/json"
	"net/http"
)

func decodeJSON(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }
