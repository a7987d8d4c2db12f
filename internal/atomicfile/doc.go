// Package atomicfile writes files so that a reader, or a later run after a
// crash, sees either the complete new contents or the previous file, never a
// half-written one.
//
// The data goes to a temporary file in the target's directory (named
// "."+base+".tmp*", so it is hidden and on the same file system), which is
// flushed, fsynced and closed, then renamed over the target; rename(2) within
// one file system is atomic. The directory is fsynced afterwards so that the
// rename itself survives a power loss. On any error the temporary file is
// removed and an existing file at the target path is left untouched. A process
// killed mid-write can leave only a stray temporary file behind.
package atomicfile
