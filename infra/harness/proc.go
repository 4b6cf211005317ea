package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process that can be started, killed and started again
// with the same command line, environment and log file.
type Proc struct {
	Name string
	Path string
	Args []string
	Env  []string
	// Log receives the process's stdout and stderr (appended across
	// restarts); Out receives them when Log is empty; neither: discarded.
	Log string
	Out io.Writer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	// cpu accumulates the CPU seconds of earlier incarnations.
	cpu float64
	hwm int64
}

// Start starts the process; it fails when it is running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is running", p.Name)
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if p.Log != "" {
		f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close() // the child has its own descriptor
		cmd.Stdout, cmd.Stderr = f, f
	} else if p.Out != nil {
		cmd.Stdout, cmd.Stderr = p.Out, p.Out
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Running reports whether the process was started and has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the process id, 0 when it is not started.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Proc) Kill() error { return p.stop(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM, waits up to grace, then kills.
func (p *Proc) Stop(grace time.Duration) error {
	err := p.stop(syscall.SIGTERM, grace)
	if err != nil {
		return p.Kill()
	}
	return nil
}

func (p *Proc) stop(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	// Remember what this incarnation used before it is gone.
	last, statErr := ReadStats(p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		if statErr == nil {
			p.cpu += last.CPUSeconds
			p.hwm = max(p.hwm, last.PeakRSS)
		}
		p.cmd = nil
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s did not exit %s after %s", p.Name, wait, sig)
	}
}

// Exited returns a channel closed when the current incarnation exits (nil
// when none runs).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Stats returns the process's peak RSS and CPU time, over every
// incarnation it had (the CPU time of a killed one as last read before the
// kill).
func (p *Proc) Stats() (Stats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{CPUSeconds: p.cpu, PeakRSS: p.hwm}
	if p.cmd == nil {
		return s, nil
	}
	cur, err := ReadStats(p.cmd.Process.Pid)
	if err != nil {
		return s, err
	}
	s.CPUSeconds += cur.CPUSeconds
	s.PeakRSS = max(s.PeakRSS, cur.PeakRSS)
	return s, nil
}

// Stats are a process's resource figures from /proc.
type Stats struct {
	// PeakRSS is VmHWM in bytes.
	PeakRSS int64
	// CPUSeconds is utime + stime.
	CPUSeconds float64
}

// clockTicks is USER_HZ, which Linux fixes at 100 on every architecture
// Go supports for /proc/<pid>/stat.
const clockTicks = 100

// ReadStats reads VmHWM from /proc/<pid>/status and utime+stime from
// /proc/<pid>/stat.
func ReadStats(pid int) (Stats, error) {
	var s Stats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return s, fmt.Errorf("VmHWM %q: %w", v, err)
				}
				s.PeakRSS = n * 1024
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14, 15.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 13 {
		return s, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, err
	}
	s.CPUSeconds = (ut + st) / clockTicks
	return s, nil
}

// FindProcess returns the pid of the first process whose command name is
// comm and whose command line contains arg (any, when empty); 0 when none.
func FindProcess(comm, arg string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		if arg != "" {
			cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !strings.Contains(string(cl), arg) {
				continue
			}
		}
		return pid
	}
	return 0
}
