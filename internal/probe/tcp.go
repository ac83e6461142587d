package probe

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

type tcpProbe struct {
	addr string
}

// TCP returns a probe that passes when a TCP connection to addr
// ("host:port") can be established; the connection is closed at once.
func TCP(addr string) (Probe, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tcp probe: bad address %q: want host:port", addr)
	}
	if host == "" {
		return nil, fmt.Errorf("tcp probe: address %q has no host", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("tcp probe: address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return &tcpProbe{addr: addr}, nil
}

func (p *tcpProbe) Check(ctx context.Context, t Target) error {
	if ctx.Err() != nil {
		return ctxError(ctx, "")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return netError(ctx, err)
	}
	conn.Close()
	return nil
}

func (p *tcpProbe) String() string { return "tcp " + p.addr }
func (p *tcpProbe) Kind() string   { return KindTCP }
