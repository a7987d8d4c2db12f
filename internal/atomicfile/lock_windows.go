package atomicfile

import "os"

// removesStale: removeStale can tell a killed writer's temporary file (deletable) from a live one's.
const removesStale = true

// renameOpen: whether a file may be renamed while open.
const renameOpen = false

// lockTemp does nothing: Go opens files without FILE_SHARE_DELETE, so
// while the writer has its temporary file open, Windows refuses to delete
// it, and the handle is closed when the process ends, however it ends.
func lockTemp(f *os.File) error { return nil }

// removeStale removes the temporary file at path; Windows refuses while a
// live writer has it open.
func removeStale(path string) { os.Remove(path) }
