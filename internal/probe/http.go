package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// maxBody bounds how much of a response body is read (and discarded).
const maxBody = 64 << 10

type httpProbe struct {
	url    string
	status int
	client *http.Client
}

// HTTP returns a probe that GETs rawURL (http or https) and passes if the
// status is status, or any 2xx if status is 0. It never follows a redirect:
// the guest answers, and a guest must not make dom0 (as root) request a URL
// of its choosing; a 3xx is "not ready", naming its Location, unless status
// names it. It uses its own client: no proxy from the environment, no
// cookies, no kept-alive connections.
func HTTP(rawURL string, status int) (Probe, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("http probe: bad URL %q: %v", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("http probe: URL %q: scheme must be http or https", rawURL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("http probe: URL %q has no host", rawURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("http probe: URL %q: bad port %q", rawURL, port)
		}
	}
	if status != 0 && (status < 100 || status > 599) {
		return nil, fmt.Errorf("http probe: status %d is not an HTTP status (100-599, or 0 for any 2xx)", status)
	}
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{}).DialContext,
		DisableKeepAlives: true,
	}
	client := &http.Client{
		Transport: tr,
		// The first answer is the answer: never a second request.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &httpProbe{url: rawURL, status: status, client: client}, nil
}

func (p *httpProbe) Check(ctx context.Context, t Target) error {
	if ctx.Err() != nil {
		return ctxError(ctx, "")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			return netError(ctx, ue.Err)
		}
		return netError(ctx, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	switch {
	case p.status == 0 && resp.StatusCode/100 == 2, resp.StatusCode == p.status:
		return nil
	case resp.StatusCode/100 == 3 && p.status == 0:
		return fmt.Errorf("HTTP %d redirect to %s, not followed (set status = %d if this answer means ready)",
			resp.StatusCode, quoteLocation(resp.Header.Get("Location")), resp.StatusCode)
	case resp.StatusCode/100 == 3:
		return fmt.Errorf("HTTP %d redirect to %s, not followed, want %d",
			resp.StatusCode, quoteLocation(resp.Header.Get("Location")), p.status)
	case p.status == 0:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return fmt.Errorf("HTTP %d, want %d", resp.StatusCode, p.status)
	}
}

// maxLocation bounds how much of a redirect's Location an error quotes.
const maxLocation = 200

// quoteLocation quotes a Location header (the guest wrote it: no control
// character reaches the terminal raw), cut to maxLocation bytes.
func quoteLocation(loc string) string {
	if loc == "" {
		return "(no Location)"
	}
	if len(loc) > maxLocation {
		return strconv.Quote(loc[:maxLocation]) + "..."
	}
	return strconv.Quote(loc)
}

func (p *httpProbe) String() string {
	if p.status != 0 {
		return "http " + p.url + " status " + strconv.Itoa(p.status)
	}
	return "http " + p.url
}

func (p *httpProbe) Kind() string { return KindHTTP }
