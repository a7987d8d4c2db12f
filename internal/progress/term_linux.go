package progress

import "golang.org/x/sys/unix"

// isTerminal reports whether fd is a terminal: TCGETS succeeds only on one.
func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// termWidth returns the width of the terminal fd in columns, 0 if unknown.
func termWidth(fd uintptr) int {
	ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
