package testenv

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCluster is a JetStream cluster of embedded nats-servers on loopback,
// for tests of replicated streams and node loss.
type NATSCluster struct {
	t     testing.TB
	opts  []*server.Options
	Nodes []*server.Server
}

// StartNATSCluster starts n clustered JetStream servers on free loopback
// ports, each with its own store, and waits until JetStream has a leader.
// They are shut down when the test ends.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	c := &NATSCluster{t: t}
	var routes []*url.URL
	name := Name("jetsync")
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       FreePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: FreePort(t)},
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", o.Cluster.Port)})
		c.opts = append(c.opts, o)
	}
	for _, o := range c.opts {
		o.Routes = routes
	}
	c.Nodes = make([]*server.Server, n)
	for i := range n {
		c.Start(i)
	}
	t.Cleanup(func() {
		for _, s := range c.Nodes {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	c.WaitJetStream()
	return c
}

// URL lists every node's client URL.
func (c *NATSCluster) URL() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// Start starts node i (again, with its store: a restart after Stop).
func (c *NATSCluster) Start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.t.Fatalf("embedded nats-server %d: %v", i, err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatalf("embedded nats-server %d did not start in 10s", i)
	}
	c.Nodes[i] = s
}

// Stop shuts node i down, as a lost node.
func (c *NATSCluster) Stop(i int) {
	c.Nodes[i].Shutdown()
	c.Nodes[i].WaitForShutdown()
	c.Nodes[i] = nil
}

// WaitJetStream waits until the cluster's JetStream answers.
func (c *NATSCluster) WaitJetStream() {
	c.t.Helper()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	Eventually(c.t, 30*time.Second, func() error {
		_, err := js.AccountInfo(c.t.Context())
		return err
	})
}
