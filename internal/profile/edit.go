package profile

import (
	"context"
	"errors"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Edit is what an admin changes in the console's profile form: content,
// targets and retries. What the form does not show (sensitive, the drift
// check, where the profile comes from) is kept from the stored profile, so
// that an edit of targets never makes a sensitive profile's secrets
// visible or drops its drift check.
type Edit struct {
	// SyncML is the new content; "" keeps the current one (a sensitive
	// profile's content is never shown to be edited).
	SyncML     string
	All        bool
	IncludeAny []string
	ExcludeAny []string
	// Retries; nil keeps the current count (or the default).
	Retries *int
}

// Edit applies an admin's edit of a profile (or creates it, when there is
// none, from the edit alone), with Put's validation and conflict checks.
func (s *Service) Edit(ctx context.Context, name string, e Edit) (*store.Profile, bool, error) {
	req := PutRequest{SyncML: e.SyncML, All: e.All, IncludeAny: e.IncludeAny, ExcludeAny: e.ExcludeAny, Retries: e.Retries}
	old, err := s.Store.Profile(ctx, name)
	switch {
	case errors.Is(err, store.ErrProfileNotFound):
		return s.Put(ctx, name, req)
	case err != nil:
		return nil, false, err
	}
	if req.SyncML == "" {
		req.SyncML = old.SyncML
	}
	if req.Retries == nil {
		n := old.Retries
		req.Retries = &n
	}
	req.Verify, req.Sensitive, req.Source = old.Verify, old.Sensitive, old.Source
	return s.Put(ctx, name, req)
}
