package console

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// maxProfilesShown bounds the profiles the overview and the list draw
// (each costs a summary).
const maxProfilesShown = 200

// profileRow is a profile with its device counts.
type profileRow struct {
	Meta    *store.ProfileMeta
	Summary *profile.Summary
	// Pending counts pending and sent (on its way).
	Pending, Applied, Failed int
	Targets                  string
}

func targetsText(t store.ProfileTargets) string {
	var parts []string
	if t.All {
		parts = append(parts, "all devices")
	}
	if len(t.IncludeAny) > 0 {
		parts = append(parts, "any of "+strings.Join(t.IncludeAny, ", "))
	}
	if len(t.ExcludeAny) > 0 {
		parts = append(parts, "except "+strings.Join(t.ExcludeAny, ", "))
	}
	if len(parts) == 0 {
		return "no device"
	}
	return strings.Join(parts, "; ")
}

func newProfileRow(m *store.ProfileMeta, sum *profile.Summary) profileRow {
	r := profileRow{Meta: m, Summary: sum, Targets: targetsText(m.Targets)}
	if sum != nil {
		r.Pending = sum.Counts[store.ProfilePending] + sum.Counts[store.ProfileSent]
		r.Applied = sum.Counts[store.ProfileApplied]
		r.Failed = sum.Counts[store.ProfileFailed]
	}
	return r
}

// profileRows lists the profiles with their counts.
func (h *Handler) profileRows(r *http.Request) ([]profileRow, error) {
	metas, err := h.Backend.Profiles(r.Context())
	if err != nil {
		return nil, err
	}
	var rows []profileRow
	for i, m := range metas {
		if i == maxProfilesShown {
			break
		}
		sum, err := h.Backend.ProfileSummary(r.Context(), m.Name)
		if err != nil {
			return nil, err
		}
		rows = append(rows, newProfileRow(m, sum))
	}
	return rows, nil
}

// profilesView is the profile list with the form of a new profile.
type profilesView struct {
	Rows []profileRow
	Form profileForm
}

// profileForm is the profile editor's content.
type profileForm struct {
	Name, SyncML, Include, Exclude, Retries string
	All, New                                bool
	// Sensitive: the content is never shown; an empty field keeps it.
	Sensitive bool
}

func (h *Handler) profiles(w http.ResponseWriter, r *http.Request, p *page) {
	rows, err := h.profileRows(r)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	p.Title, p.Nav, p.Body = "Profiles", "profiles", profilesView{Rows: rows, Form: profileForm{New: true, Retries: "3"}}
	p.Flash = profileFlash(r.URL.Query())
	h.render(w, http.StatusOK, "profiles", p)
}

// profileView is one profile: content, targets, counts, devices.
type profileView struct {
	Row     profileRow
	Profile *store.Profile
	Chart   template.HTML
	Devices []profile.DeviceStatus
	State   string
	States  []string
	NextURL string
	Form    profileForm
}

func (h *Handler) profile(w http.ResponseWriter, r *http.Request, p *page, name string) {
	ctx := r.Context()
	pr, err := h.Backend.Profile(ctx, name)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	sum, err := h.Backend.ProfileSummary(ctx, name)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	q := r.URL.Query()
	v := profileView{Profile: pr, State: q.Get("state"), States: store.ProfileStates}
	if v.State != "" && !validProfileState(v.State) {
		h.fail(w, p, http.StatusBadRequest, "state "+v.State+": want one of "+strings.Join(store.ProfileStates, ", "))
		return
	}
	v.Row = newProfileRow(&store.ProfileMeta{Name: pr.Name, Version: pr.Version, Targets: pr.Targets, Retries: pr.Retries, Source: pr.Source, Updated: pr.Updated}, sum)
	var bars []Bar
	for _, st := range store.ProfileStates {
		bars = append(bars, Bar{Label: st, Value: sum.Counts[st], Class: st})
	}
	v.Chart = HBarChart("Devices per state", bars)
	page, err := h.Backend.ProfileDevices(ctx, name, v.State, q.Get("after"), h.PageSize)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	v.Devices = page.Devices
	if page.Next != "" {
		nq := url.Values{"after": {page.Next}}
		if v.State != "" {
			nq.Set("state", v.State)
		}
		v.NextURL = p.Prefix + "/profiles/" + url.PathEscape(name) + "?" + nq.Encode() + "#devices"
	}
	content := pr.SyncML
	if pr.Sensitive {
		content = ""
	}
	v.Form = profileForm{Name: pr.Name, SyncML: content, Sensitive: pr.Sensitive, All: pr.Targets.All, Include: strings.Join(pr.Targets.IncludeAny, " "),
		Exclude: strings.Join(pr.Targets.ExcludeAny, " "), Retries: strconv.Itoa(pr.Retries)}
	p.Title, p.Nav, p.Body = "Profile "+name, "profiles", v
	p.Flash = profileFlash(q)
	h.render(w, http.StatusOK, "profile", p)
}

func validProfileState(s string) bool {
	for _, x := range store.ProfileStates {
		if x == s {
			return true
		}
	}
	return false
}

func profileFlash(q url.Values) string {
	switch q.Get("done") {
	case "saved":
		return "Profile saved: targeted devices get it at their next session."
	case "unchanged":
		return "Profile unchanged: it was already so."
	case "deleted":
		return "Profile deleted: its settings are removed from the devices at their next sessions."
	}
	return ""
}

// labelList splits a form's label field (spaces or commas).
func labelList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}

// saveProfile creates (POST /profiles, name in the form) or changes (POST
// /profiles/<name>) a profile. Validation, conflicts and versioning are the
// profile service's; its message is shown as it is.
func (h *Handler) saveProfile(w http.ResponseWriter, r *http.Request, p *page, name string) {
	f := r.PostForm
	if name == "" {
		name = strings.TrimSpace(f.Get("name"))
	}
	req := profile.Edit{SyncML: f.Get("syncml"), All: f.Get("all") != "",
		IncludeAny: labelList(f.Get("include_any")), ExcludeAny: labelList(f.Get("exclude_any"))}
	if s := strings.TrimSpace(f.Get("retries")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			h.fail(w, p, http.StatusBadRequest, "retries "+s+": want a number")
			return
		}
		req.Retries = &n
	}
	_, changed, err := h.Backend.SaveProfile(r.Context(), name, req, p.User)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	done := "saved"
	if !changed {
		done = "unchanged"
	}
	redirect(w, r, p.Prefix+"/profiles/"+url.PathEscape(name)+"?done="+done)
}

// deleteProfile deletes a profile once confirmed.
func (h *Handler) deleteProfile(w http.ResponseWriter, r *http.Request, p *page, name string) {
	if r.PostForm.Get("confirm") != name {
		redirect(w, r, p.Prefix+"/profiles/"+url.PathEscape(name)+"/confirm-delete")
		return
	}
	if err := h.Backend.DeleteProfile(r.Context(), name, p.User); err != nil {
		h.failErr(w, p, err)
		return
	}
	redirect(w, r, p.Prefix+"/profiles?done=deleted")
}

// confirmDeleteView is the confirmation of a profile's deletion.
type confirmDeleteView struct {
	Row profileRow
}

func (h *Handler) confirmDeleteProfile(w http.ResponseWriter, r *http.Request, p *page, name string) {
	pr, err := h.Backend.Profile(r.Context(), name)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	sum, err := h.Backend.ProfileSummary(r.Context(), name)
	if err != nil {
		h.failErr(w, p, err)
		return
	}
	row := newProfileRow(&store.ProfileMeta{Name: pr.Name, Version: pr.Version, Targets: pr.Targets}, sum)
	p.Title, p.Nav, p.Body = "Delete profile "+name+"?", "profiles", confirmDeleteView{Row: row}
	h.render(w, http.StatusOK, "profile_delete", p)
}

// changeLabel adds or removes a device's admin label from its page.
func (h *Handler) changeLabel(w http.ResponseWriter, r *http.Request, p *page, id string) {
	label := strings.TrimSpace(r.PostForm.Get("label"))
	add := r.PostForm.Get("op") != "remove"
	if err := h.Backend.ChangeLabel(r.Context(), id, label, add, p.User); err != nil {
		h.failErr(w, p, err)
		return
	}
	redirect(w, r, devicePath(p.Prefix, id)+"?done=labels#labels")
}
