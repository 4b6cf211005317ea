package harness

import (
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections from a loopback port to a target, and can
// cut every connection and refuse new ones, as a network outage would, or
// black-hole them: stop forwarding while every connection stays open, as a
// partition that drops packets does. infra/testenv wraps it for tests.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener
	mu     sync.Mutex
	cond   *sync.Cond
	cut    bool
	holed  bool
	drop   bool
	conns  map[net.Conn]bool
	up     map[net.Conn]bool // the connections to the target
}

// NewProxy starts a proxy to target on a free loopback port.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}, up: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	return p, nil
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up], p.up[up] = true, true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// While black-holed, bytes already read are held, not sent.
			p.mu.Lock()
			for p.holed && p.conns[src] {
				p.cond.Wait()
			}
			open, drop := p.conns[src], p.drop && p.up[src]
			p.mu.Unlock()
			if !open {
				break
			}
			if drop {
				continue
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	delete(p.up, dst)
	delete(p.up, src)
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Blackhole stops forwarding on every connection, new ones included, while
// they all stay open: nothing is lost, nothing arrives, nobody is told.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.holed = true
	p.mu.Unlock()
}

// DropReplies discards, until Heal, what the target sends while the
// connections stay open: requests arrive and are served, their answers are
// lost, as when a server fails over between doing and answering.
func (p *Proxy) DropReplies() {
	p.mu.Lock()
	p.drop = true
	p.mu.Unlock()
}

// Heal forwards again what a black-hole held, and everything after it, and
// stops dropping replies.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.holed, p.drop = false, false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Cut closes every connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.cond.Broadcast()
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
}
