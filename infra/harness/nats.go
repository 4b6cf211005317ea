package harness

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServer is a nats-server process with JetStream, file storage in Dir,
// on a fixed loopback port so that it can be restarted with its data.
type NATSServer struct {
	Proc
	Port int
	Dir  string
}

// NewNATSServer returns (does not start) a nats-server of bin on a free
// loopback port with its store in dir.
func NewNATSServer(bin, dir, log string) (*NATSServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &NATSServer{
		Proc: Proc{Name: "nats-server", Path: bin, Log: log,
			Args: []string{"-js", "-sd", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}},
		Port: port, Dir: dir,
	}, nil
}

// URL is the server's client URL.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Start starts the server and waits until it accepts clients with
// JetStream (at most 30 s).
func (s *NATSServer) Start() error {
	if err := s.Proc.Start(); err != nil {
		return err
	}
	return s.waitJetStream()
}

// waitJetStream waits until the server accepts clients and answers a
// JetStream request (at most 30 s).
func (s *NATSServer) waitJetStream() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := nats.Connect(s.URL(), nats.Timeout(time.Second))
		if err == nil {
			// JetStream answers once its store is recovered (and, in a
			// cluster, once it has a meta leader).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var js jetstream.JetStream
			if js, err = jetstream.New(nc); err == nil {
				_, err = js.AccountInfo(ctx)
			}
			cancel()
			nc.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server on %d not ready after 30s: %w", s.Port, err)
		}
		select {
		case <-s.Exited():
			return fmt.Errorf("nats-server exited at start (see %s)", s.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// NATSCluster is a JetStream cluster of nats-server processes on loopback,
// each with its own store, routed to each other.
type NATSCluster struct {
	Nodes []*NATSServer
}

// NewNATSCluster returns (does not start) n clustered nats-servers of bin,
// node i storing in dir/n<i> and logging to dir/nats-<i>.log; with n 1, one
// plain server.
func NewNATSCluster(bin, dir string, n int) (*NATSCluster, error) {
	c := &NATSCluster{}
	var routes []string
	clusterPorts := make([]int, n)
	for i := range n {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		clusterPorts[i] = p
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range n {
		s, err := NewNATSServer(bin, filepath.Join(dir, fmt.Sprintf("n%d", i+1)), filepath.Join(dir, fmt.Sprintf("nats-%d.log", i+1)))
		if err != nil {
			return nil, err
		}
		s.Name = fmt.Sprintf("nats-server %d", i+1)
		if n == 1 {
			s.Name = "nats-server"
		} else {
			s.Args = append(s.Args, "-n", fmt.Sprintf("n%d", i+1), "--cluster_name", "jetsync",
				"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]), "--routes", strings.Join(routes, ","))
		}
		c.Nodes = append(c.Nodes, s)
	}
	return c, nil
}

// URL lists every node's client URL.
func (c *NATSCluster) URL() string {
	var urls []string
	for _, s := range c.Nodes {
		urls = append(urls, s.URL())
	}
	return strings.Join(urls, ",")
}

// Start starts every node, then waits until JetStream answers (a meta
// leader needs a quorum of the nodes up, so they start together).
func (c *NATSCluster) Start() error {
	for _, s := range c.Nodes {
		if err := s.Proc.Start(); err != nil {
			return err
		}
	}
	for _, s := range c.Nodes {
		if err := s.waitJetStream(); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every node.
func (c *NATSCluster) Stop(grace time.Duration) {
	for _, s := range c.Nodes {
		_ = s.Stop(grace)
	}
}
