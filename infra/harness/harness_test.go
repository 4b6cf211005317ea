package harness

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestReadStats(t *testing.T) {
	before, err := ReadStats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.PeakRSS < 1<<20 || before.PeakRSS > 8<<30 {
		t.Errorf("peak RSS %d bytes: not plausible", before.PeakRSS)
	}
	// Burn CPU until utime+stime moves by 50 ms (at most 10 s of wall time).
	x := 0
	for deadline := time.Now().Add(10 * time.Second); ; x++ {
		if x%1000000 == 0 {
			s, err := ReadStats(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if s.CPUSeconds-before.CPUSeconds >= 0.05 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CPU time did not move in 10 s of spinning: %.3f -> %.3f", before.CPUSeconds, s.CPUSeconds)
			}
		}
	}
	if _, err := ReadStats(-1); err == nil {
		t.Error("stats of pid -1: no error")
	}
}

func TestProcKillAndRestart(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Name: "sleep", Path: sleep, Args: []string{"30"}, Log: t.TempDir() + "/log"}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Fatal("a second Start of a running process succeeded")
	}
	first := p.Pid()
	if !p.Running() || first == 0 {
		t.Fatalf("running %v, pid %d", p.Running(), first)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() == first || !p.Running() {
		t.Fatalf("restart: pid %d (first %d), running %v", p.Pid(), first, p.Running())
	}
	if s, err := p.Stats(); err != nil || s.PeakRSS == 0 {
		t.Fatalf("stats %+v, %v", s, err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after Stop")
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	p := echoProxy(t)
	echo := func() error {
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // accepted and piped
	p.Cut()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("an open connection survived Cut")
	}
	if err := echo(); err == nil {
		t.Error("a new connection worked while cut")
	}
	p.Restore()
	if err := echo(); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}

func TestProxyBlackholeAndHeal(t *testing.T) {
	p := echoProxy(t)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1)
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'a' {
		t.Fatalf("through the proxy: %q %v", b, err)
	}
	p.Blackhole()
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatalf("a black-holed connection refused a write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(b); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read through a black-hole: %v, want a timeout (open, silent)", err)
	}
	p.Heal()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'b' {
		t.Fatalf("after Heal: %q %v, want what the black-hole held", b, err)
	}
}

// echoProxy is a Proxy in front of an echo server, both closed with t.
func echoProxy(t *testing.T) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
