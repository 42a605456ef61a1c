package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiles are the hidden --cpu-profile and --mem-profile flags: the files go
// tool pprof reads, for finding where a large batch spends time or memory
// without rebuilding wtb.
type profiles struct {
	cpuPath, memPath string
	cpuFile          *os.File
}

func (p *profiles) start() error {
	if p.cpuPath == "" {
		return nil
	}
	f, err := os.Create(p.cpuPath)
	if err != nil {
		return exitf(ExitConfig, "--cpu-profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return exitf(ExitRuntime, "--cpu-profile: %v", err)
	}
	p.cpuFile = f
	return nil
}

// stop writes what was asked for; the heap profile is taken at exit, so it
// shows what is still held and, in its alloc_space view, everything allocated.
func (p *profiles) stop() error {
	var first error
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil {
			first = fmt.Errorf("--cpu-profile: %w", err)
		}
		p.cpuFile = nil
	}
	if p.memPath != "" {
		f, err := os.Create(p.memPath)
		if err != nil {
			return fmt.Errorf("--mem-profile: %w", err)
		}
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil && first == nil {
			first = fmt.Errorf("--mem-profile: %w", err)
		}
		if err := f.Close(); err != nil && first == nil {
			first = fmt.Errorf("--mem-profile: %w", err)
		}
	}
	return first
}
