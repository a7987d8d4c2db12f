// Package atomicfile writes files so that a reader, or a later run after a
// crash, sees either the complete new contents or the previous file, never a
// half-written one.
//
// The data goes to a temporary file in the target's directory (on the same
// file system), which is flushed and fsynced, then renamed over the target;
// rename(2) within one file system is atomic. The directory is fsynced
// afterwards so that the rename itself survives a power loss. On any error
// the temporary file is removed and an existing file at the target path is
// left untouched.
//
// On Linux the temporary file is opened with O_TMPFILE, so it has no name
// while it is written: a process killed mid-write leaves nothing behind. Only
// at commit is it linked as "."+base+".tmp<n>" and at once renamed over the
// target. Where O_TMPFILE is not available (other systems, some file
// systems, no /proc) the temporary file is named "."+base+".tmp*" from the
// start, and a killed process can leave it behind.
package atomicfile
