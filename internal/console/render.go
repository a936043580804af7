package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

//go:embed templates
var templateFiles embed.FS

// pages holds one template set per page (the layout, the shared partials and the page)
// and the partials alone, for htmx fragments.
type pages struct {
	byName   map[string]*template.Template
	partials *template.Template
}

var funcs = template.FuncMap{
	"when":     when,
	"ago":      ago,
	"join":     strings.Join,
	"json":     prettyJSON,
	"pct":      func(f *float64) string { return fmt.Sprintf("%.0f%%", *f*100) },
	"ms":       func(f *float64) string { return fmt.Sprintf("%.0f ms", *f) },
	"deref":    func(s *string) string { return derefOr(s, "") },
	"has":      func(list []string, s string) bool { return contains(list, s) },
	"add":      func(a, b int) int { return a + b },
	"lines":    func(s string) []string { return strings.Split(s, "\n") },
	"caret":    func(col int) string { return strings.Repeat(" ", max(col-1, 0)) + "^" },
	"deref2":   func(n *int) int { return derefInt(n) },
	"nonce":    randomToken,
	"problems": func(errs []fieldError) validationView { return validationView{Errors: errs} },
	"days":     func() []int { return []int{1, 7, 14, 30} },
	"terminal": func(status string) bool { return contains(finishedStatuses, status) },
	"finished": func() []string { return finishedStatuses },
	"host":     hostOf,
	"short":    func(s *string) string { return shortDuration(derefOr(s, "")) },
}

var finishedStatuses = []string{"succeeded", "failed", "canceled", "timed_out"}

func derefInt(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

// hostOf is the host of a destination (scheme://host:port), for the host filter.
func hostOf(dest string) string {
	u, err := url.Parse(dest)
	if err != nil {
		return dest
	}
	return u.Hostname()
}

// nextQuery is the current query with page_token set to token; "" when there is no next page.
func nextQuery(c *fiber.Ctx, token string) string {
	if token == "" {
		return ""
	}
	args := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "page_token" && len(args) < 10 {
			args.Add(string(k), string(v))
		}
	})
	args.Set("page_token", token)
	return args.Encode()
}

func parsePages() (*pages, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(templateFiles, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}, partials: base}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, f)
		if err != nil {
			return nil, err
		}
		p.byName[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return p, nil
}

// view is what the layout renders.
type view struct {
	Title string
	S     *session
	Nav   []navItem
	Path  string
	CSRF  string
	Data  any
}

type errorView struct {
	Message   string
	RequestID string
}

// localKeyChecked marks a request in which the API has answered a call made with the
// session's key (anything but 401), so the key still works.
const localKeyChecked = "console_key_checked"

// render answers a whole page.
func (cn *Console) render(c *fiber.Ctx, s *session, status int, page, title string, data any) error {
	t, ok := cn.pages.byName[page]
	if !ok {
		return fmt.Errorf("console: no page %q", page)
	}
	if s != nil && c.Locals(localKeyChecked) == nil {
		// A page that needed no API data has not shown the session's key to the API yet:
		// ask it once, so a key revoked, expired or rotated past its grace ends the
		// session at its next page, whichever page that is.
		c.Locals(localKeyChecked, true)
		if err := cn.call(c, s, http.MethodGet, "/api/v1/public/whoami", nil, nil); err != nil {
			return cn.fail(c, s, err)
		}
	}
	v := view{Title: title, S: s, Path: c.Path(), Data: data}
	if s != nil {
		v.CSRF = s.csrf
		for _, n := range nav {
			if s.HasScope(n.Scope) {
				v.Nav = append(v.Nav, n)
			}
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// fragment answers one partial, for an htmx request.
func (cn *Console) fragment(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := cn.pages.partials.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }

// when shows an RFC 3339 time from the API as UTC to the minute; "" stays "".
func when(v any) string {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case *string:
		s = derefOr(t, "")
	}
	if s == "" {
		return ""
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return at.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// ago shows how long before now a time was, roughly.
func ago(v *string) string {
	if v == nil {
		return "never"
	}
	at, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		return *v
	}
	d := time.Since(at)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func prettyJSON(v any) string {
	if raw, ok := v.(json.RawMessage); ok {
		var buf bytes.Buffer
		if json.Indent(&buf, raw, "", "  ") == nil {
			return buf.String()
		}
		return string(raw)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
