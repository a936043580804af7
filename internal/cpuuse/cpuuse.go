// Package cpuuse reads how much CPU processes have used, for the benchmarks' reports of
// where a machine's cores went (Linux: /proc).
package cpuuse

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Seconds returns the CPU time, user and system, that the processes have used so far; a
// process that is gone counts nothing.
func Seconds(pids ...int) float64 {
	var total float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command's name, which is in parentheses and may hold spaces.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		total += (utime + stime) / 100 // in USER_HZ, 100 on Linux
	}
	return total
}

// Named lists the running processes whose command is name (postgres: the server and its
// backends).
func Named(name string) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == name {
			out = append(out, pid)
		}
	}
	return out
}
