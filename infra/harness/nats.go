package harness

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := nats.Connect(s.URL(), nats.Timeout(time.Second))
		if err == nil {
			// JetStream answers once its store is recovered.
			_, err = nc.RequestWithContext(context.Background(), "$JS.API.INFO", nil)
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
