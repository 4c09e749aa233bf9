package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultPageSize is how many devices a list page shows.
const DefaultPageSize = 50

// maxFormBody bounds a POSTed form: a Replace's data may be large, but
// not above what a command may carry.
const maxFormBody = 5 << 20

// Handler serves the console's pages.
type Handler struct {
	Backend Backend
	// Secret keys the CSRF tokens; the same on every node of a cluster.
	Secret []byte
	// PageSize is the number of devices per list page (DefaultPageSize).
	PageSize int
	// Refused is told of every request refused for want of authentication
	// or of a valid CSRF token, for the log (optional).
	Refused func(r *http.Request, user string, status int, reason string)

	templates map[string]*template.Template
}

// New returns a handler over b whose CSRF tokens are keyed with secret.
func New(b Backend, secret []byte) (*Handler, error) {
	if len(secret) < 32 {
		return nil, errors.New("console: CSRF secret shorter than 32 bytes")
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Handler{Backend: b, Secret: secret, PageSize: DefaultPageSize, templates: t}, nil
}

// Serve answers one request. path is the request's path below the
// console's mount point, prefix the mount point as the browser sees it
// ("" at the site's root; links and cookies use it), and user the
// authenticated admin ("" when nobody authenticated: 403).
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, path, prefix, user string) {
	path = "/" + strings.Trim(path, "/")
	if name, ok := strings.CutPrefix(path, "/static/"); ok && r.Method == http.MethodGet {
		if serveStatic(w, name) {
			return
		}
	}
	p := &page{Prefix: prefix, User: user}
	if user == "" {
		h.refuse(r, user, http.StatusForbidden, "no authenticated user")
		p.Title = "Authentication required"
		h.render(w, http.StatusForbidden, "forbidden", p)
		return
	}
	p.CSRF = csrfToken(h.Secret, user, browserCookie(w, r, prefix+"/"))
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			h.fail(w, p, http.StatusRequestEntityTooLarge, "the form could not be read: "+err.Error())
			return
		}
		if err := checkPost(r, h.Secret, user); err != nil {
			h.refuse(r, user, http.StatusForbidden, err.Error())
			h.fail(w, p, http.StatusForbidden, "Refused: "+err.Error())
			return
		}
	} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, p, http.StatusMethodNotAllowed, r.Method+" is not allowed here")
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	get := r.Method != http.MethodPost
	switch {
	case path == "/" && get:
		h.overview(w, r, p)
	case parts[0] == "devices" && len(parts) == 1 && get:
		h.devices(w, r, p)
	case parts[0] == "devices" && len(parts) == 2 && get:
		h.device(w, r, p, parts[1])
	case parts[0] == "devices" && len(parts) == 3 && parts[2] == "commands" && !get:
		h.enqueue(w, r, p, parts[1])
	case parts[0] == "devices" && len(parts) == 5 && parts[2] == "commands" && parts[4] == "cancel" && !get:
		h.cancel(w, r, p, parts[1], parts[3])
	case parts[0] == "devices" && len(parts) == 4 && parts[2] == "confirm" && get:
		h.confirm(w, r, p, parts[1], parts[3])
	case parts[0] == "devices" && len(parts) == 3 && parts[2] == "labels" && !get:
		h.changeLabel(w, r, p, parts[1])
	case parts[0] == "devices" && len(parts) == 3 && !get:
		h.act(w, r, p, parts[1], parts[2])
	case parts[0] == "profiles" && len(parts) == 1 && get:
		h.profiles(w, r, p)
	case parts[0] == "profiles" && len(parts) == 1:
		h.saveProfile(w, r, p, "")
	case parts[0] == "profiles" && len(parts) == 2 && get:
		h.profile(w, r, p, parts[1])
	case parts[0] == "profiles" && len(parts) == 2:
		h.saveProfile(w, r, p, parts[1])
	case parts[0] == "profiles" && len(parts) == 3 && parts[2] == "confirm-delete" && get:
		h.confirmDeleteProfile(w, r, p, parts[1])
	case parts[0] == "profiles" && len(parts) == 3 && parts[2] == "delete" && !get:
		h.deleteProfile(w, r, p, parts[1])
	default:
		h.fail(w, p, http.StatusNotFound, "No such page: "+path)
	}
}

func (h *Handler) refuse(r *http.Request, user string, status int, reason string) {
	if h.Refused != nil {
		h.Refused(r, user, status, reason)
	}
}

// errorView is the error page's body.
type errorView struct {
	Status  int
	Message string
}

func (h *Handler) fail(w http.ResponseWriter, p *page, status int, msg string) {
	p.Title = fmt.Sprintf("%d %s", status, http.StatusText(status))
	p.Body = errorView{Status: status, Message: msg}
	h.render(w, status, "error", p)
}

// failErr shows a backend error with the status the admin API would give.
func (h *Handler) failErr(w http.ResponseWriter, p *page, err error) {
	h.fail(w, p, statusOf(err), err.Error())
}

// redirect sends the browser on after a change (303: the next request is
// a GET, so a reload does not repeat the change).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	securityHeaders(w)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func devicePath(prefix, id string) string { return prefix + "/devices/" + url.PathEscape(id) }

// now is the time pages are drawn at; tests of the views pass theirs.
var now = time.Now
