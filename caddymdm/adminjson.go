package caddymdm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// decodeJSONBody reads a request body of at most limit bytes holding one
// JSON object of v's fields and nothing after it: 413 past the limit, 400
// for an unknown field, bad JSON or trailing data (`{...} garbage` is not
// silently half-read). An empty body is allowed when optional.
func decodeJSONBody(r *http.Request, limit int, v any, what string, optional bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return apiError(http.StatusBadRequest, "%s: reading the body: %v", what, err)
	}
	if len(body) > limit {
		return apiError(http.StatusRequestEntityTooLarge, "%s body over %d bytes", what, limit)
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiError(http.StatusBadRequest, "%s JSON: %v", what, err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, "%s JSON: data after the object", what)
	}
	return nil
}
